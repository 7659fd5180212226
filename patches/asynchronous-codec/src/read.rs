//! Reading frames: [`FramedRead`], and the read loop [`Framed`] shares.
//!
//! [`Framed`]: crate::Framed

use crate::buffer::{READ_CHUNK, release_if_empty};
use crate::codec::Decoder;
use bytes::BytesMut;
use futures_util::io::AsyncRead;
use futures_util::stream::Stream;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Decodes the next frame out of `buffer`, reading from `io` until one is
/// whole. `None` is the end of the stream; an end in the middle of a frame
/// is an `UnexpectedEof` error.
pub(crate) fn poll_frame<T, D>(
    io: &mut T,
    decoder: &mut D,
    buffer: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<D::Item, D::Error>>>
where
    T: AsyncRead + Unpin,
    D: Decoder,
{
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        if let Some(frame) = decoder.decode(buffer)? {
            release_if_empty(buffer);
            return Poll::Ready(Some(Ok(frame)));
        }
        let read = ready!(Pin::new(&mut *io).poll_read(cx, &mut chunk))?;
        if read == 0 {
            return Poll::Ready(finish(decoder, buffer));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// The reader has ended: whatever is left must decode as a last frame.
fn finish<D: Decoder>(decoder: &mut D, buffer: &mut BytesMut) -> Option<Result<D::Item, D::Error>> {
    if buffer.is_empty() {
        return None;
    }
    match decoder.decode_eof(buffer) {
        Ok(Some(frame)) => {
            release_if_empty(buffer);
            Some(Ok(frame))
        }
        Ok(None) if buffer.is_empty() => None,
        Ok(None) => Some(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the stream ended inside a frame",
        )
        .into())),
        Err(e) => Some(Err(e)),
    }
}

/// A `Stream` of the frames `decoder` finds in what `io` yields.
#[derive(Debug)]
pub struct FramedRead<T, D> {
    io: T,
    decoder: D,
    buffer: BytesMut,
}

impl<T, D> FramedRead<T, D> {
    /// Frames `io` with `decoder`.
    pub fn new(io: T, decoder: D) -> Self {
        Self {
            io,
            decoder,
            buffer: BytesMut::new(),
        }
    }

    /// The underlying reader; bytes read but not yet decoded are dropped.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The decoder, mutably; changing its state mid-stream may lose frames.
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// Bytes read but not yet decoded.
    pub fn read_buffer(&self) -> &BytesMut {
        &self.buffer
    }
}

impl<T, D> Deref for FramedRead<T, D> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.io
    }
}

impl<T, D> DerefMut for FramedRead<T, D> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<T, D> Stream for FramedRead<T, D>
where
    T: AsyncRead + Unpin,
    D: Decoder + Unpin,
{
    type Item = Result<D::Item, D::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        poll_frame(&mut this.io, &mut this.decoder, &mut this.buffer, cx)
    }
}
