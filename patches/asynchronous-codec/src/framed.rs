//! [`Framed`]: one stream read and written with one codec.

use crate::codec::{Decoder, Encoder};
use crate::read::poll_frame;
use crate::write::{HIGH_WATER_MARK, poll_close, poll_drain, poll_flush};
use bytes::BytesMut;
use futures_sink::Sink;
use futures_util::io::{AsyncRead, AsyncWrite};
use futures_util::stream::Stream;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A `Stream` of decoded frames and a `Sink` of frames to encode, over one
/// duplex `io`.
#[derive(Debug)]
pub struct Framed<T, U> {
    io: T,
    codec: U,
    read_buffer: BytesMut,
    write_buffer: BytesMut,
    high_water_mark: usize,
}

/// A [`Framed`] taken apart by [`Framed::into_parts`], so it can be rebuilt
/// around another codec without losing buffered bytes.
#[derive(Debug)]
#[non_exhaustive]
pub struct FramedParts<T, U> {
    /// The underlying stream.
    pub io: T,
    /// The codec.
    pub codec: U,
    /// Bytes read but not yet decoded.
    pub read_buffer: BytesMut,
    /// Bytes encoded but not yet written.
    pub write_buffer: BytesMut,
}

impl<T, U> FramedParts<T, U> {
    /// The same parts with the codec replaced by `f(codec)`.
    pub fn map_codec<V, F>(self, f: F) -> FramedParts<T, V>
    where
        F: FnOnce(U) -> V,
    {
        FramedParts {
            io: self.io,
            codec: f(self.codec),
            read_buffer: self.read_buffer,
            write_buffer: self.write_buffer,
        }
    }
}

impl<T, U> Framed<T, U> {
    /// Frames `io` with `codec`.
    pub fn new(io: T, codec: U) -> Self {
        Self {
            io,
            codec,
            read_buffer: BytesMut::new(),
            write_buffer: BytesMut::new(),
            high_water_mark: HIGH_WATER_MARK,
        }
    }

    /// Rebuilds a `Framed` from its parts, buffered bytes included.
    pub fn from_parts(parts: FramedParts<T, U>) -> Self {
        Self {
            io: parts.io,
            codec: parts.codec,
            read_buffer: parts.read_buffer,
            write_buffer: parts.write_buffer,
            high_water_mark: HIGH_WATER_MARK,
        }
    }

    /// Takes the `Framed` apart, buffered bytes included.
    pub fn into_parts(self) -> FramedParts<T, U> {
        FramedParts {
            io: self.io,
            codec: self.codec,
            read_buffer: self.read_buffer,
            write_buffer: self.write_buffer,
        }
    }

    /// The underlying stream; buffered bytes are dropped.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// The codec.
    pub fn codec(&self) -> &U {
        &self.codec
    }

    /// The codec, mutably; changing its state mid-stream may lose frames.
    pub fn codec_mut(&mut self) -> &mut U {
        &mut self.codec
    }

    /// Bytes read but not yet decoded.
    pub fn read_buffer(&self) -> &BytesMut {
        &self.read_buffer
    }

    /// How many encoded bytes may wait before they are written out.
    pub fn send_high_water_mark(&self) -> usize {
        self.high_water_mark
    }

    /// Sets how many encoded bytes may wait before they are written out.
    pub fn set_send_high_water_mark(&mut self, bytes: usize) {
        self.high_water_mark = bytes;
    }
}

impl<T, U> Deref for Framed<T, U> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.io
    }
}

impl<T, U> DerefMut for Framed<T, U> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<T, U> Stream for Framed<T, U>
where
    T: AsyncRead + Unpin,
    U: Decoder + Unpin,
{
    type Item = Result<U::Item, U::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        poll_frame(&mut this.io, &mut this.codec, &mut this.read_buffer, cx)
    }
}

impl<'a, T, U> Sink<U::Item<'a>> for Framed<T, U>
where
    T: AsyncWrite + Unpin,
    U: Encoder + Unpin,
{
    type Error = U::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), U::Error>> {
        let this = self.get_mut();
        let keep_below = this.high_water_mark;
        poll_drain(&mut this.io, &mut this.write_buffer, keep_below, cx).map_err(Into::into)
    }

    fn start_send(self: Pin<&mut Self>, item: U::Item<'a>) -> Result<(), U::Error> {
        let this = self.get_mut();
        this.codec.encode(item, &mut this.write_buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), U::Error>> {
        let this = self.get_mut();
        poll_flush(&mut this.io, &mut this.write_buffer, cx).map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), U::Error>> {
        let this = self.get_mut();
        poll_close(&mut this.io, &mut this.write_buffer, cx).map_err(Into::into)
    }
}
