//! Writing frames: [`FramedWrite`], and the write path [`Framed`] shares.
//!
//! [`Framed`]: crate::Framed

use crate::buffer::release_if_empty;
use crate::codec::Encoder;
use bytes::{Buf, BytesMut};
use futures_sink::Sink;
use futures_util::io::AsyncWrite;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// How many encoded bytes may wait before `poll_ready` writes them out
/// (128 KiB, as in the original).
pub(crate) const HIGH_WATER_MARK: usize = 128 * 1024;

/// Writes from the front of `buffer` until fewer than `keep_below` bytes
/// are left (0: all of them), then frees the buffer if it is empty.
pub(crate) fn poll_drain<T>(
    io: &mut T,
    buffer: &mut BytesMut,
    keep_below: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    T: AsyncWrite + Unpin,
{
    while !buffer.is_empty() && buffer.len() >= keep_below {
        let written = ready!(Pin::new(&mut *io).poll_write(cx, buffer))?;
        if written == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the writer accepted no bytes",
            )));
        }
        buffer.advance(written);
    }
    release_if_empty(buffer);
    Poll::Ready(Ok(()))
}

/// Writes everything buffered, then flushes `io`.
pub(crate) fn poll_flush<T>(
    io: &mut T,
    buffer: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    T: AsyncWrite + Unpin,
{
    ready!(poll_drain(io, buffer, 0, cx))?;
    Pin::new(io).poll_flush(cx)
}

/// Writes everything buffered, then closes `io`.
pub(crate) fn poll_close<T>(
    io: &mut T,
    buffer: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    T: AsyncWrite + Unpin,
{
    ready!(poll_flush(io, buffer, cx))?;
    Pin::new(io).poll_close(cx)
}

/// A `Sink` of frames that `encoder` writes to `io`.
#[derive(Debug)]
pub struct FramedWrite<T, E> {
    io: T,
    encoder: E,
    buffer: BytesMut,
    high_water_mark: usize,
}

impl<T, E> FramedWrite<T, E> {
    /// Frames `io` with `encoder`.
    pub fn new(io: T, encoder: E) -> Self {
        Self {
            io,
            encoder,
            buffer: BytesMut::new(),
            high_water_mark: HIGH_WATER_MARK,
        }
    }

    /// The underlying writer; encoded bytes not yet written are dropped.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The encoder, mutably.
    pub fn encoder_mut(&mut self) -> &mut E {
        &mut self.encoder
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

impl<T, E> Deref for FramedWrite<T, E> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.io
    }
}

impl<T, E> DerefMut for FramedWrite<T, E> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<'a, T, E> Sink<E::Item<'a>> for FramedWrite<T, E>
where
    T: AsyncWrite + Unpin,
    E: Encoder + Unpin,
{
    type Error = E::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E::Error>> {
        let this = self.get_mut();
        let keep_below = this.high_water_mark;
        poll_drain(&mut this.io, &mut this.buffer, keep_below, cx).map_err(Into::into)
    }

    fn start_send(self: Pin<&mut Self>, item: E::Item<'a>) -> Result<(), E::Error> {
        let this = self.get_mut();
        this.encoder.encode(item, &mut this.buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E::Error>> {
        let this = self.get_mut();
        poll_flush(&mut this.io, &mut this.buffer, cx).map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E::Error>> {
        let this = self.get_mut();
        poll_close(&mut this.io, &mut this.buffer, cx).map_err(Into::into)
    }
}
