//! `asynchronous_codec`'s framing API with buffers that exist only while
//! they hold bytes (see README.md for why this crate stands in for the
//! crates.io one).
//!
//! A [`Decoder`] turns bytes read from an `AsyncRead` into frames, an
//! [`Encoder`] turns frames into bytes for an `AsyncWrite`; [`FramedRead`],
//! [`FramedWrite`] and [`Framed`] drive them as a `Stream` and a `Sink`.

mod buffer;
mod codec;
mod framed;
mod read;
mod write;

pub use bytes::{Bytes, BytesMut};
pub use codec::{Decoder, Encoder};
pub use framed::{Framed, FramedParts};
pub use read::FramedRead;
pub use write::FramedWrite;
