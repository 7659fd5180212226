//! The framing API as libp2p uses it: frames survive any split of the
//! bytes, a stream ending inside a frame is an error, parts keep buffered
//! bytes, and an idle stream holds no buffer memory.

use asynchronous_codec::{Decoder, Encoder, Framed, FramedRead, FramedWrite};
use bytes::{Buf, BufMut, BytesMut};
use futures::executor::block_on;
use futures::io::{AsyncRead, Cursor};
use futures::{SinkExt, StreamExt};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Frames as a one-byte length followed by that many bytes.
struct ShortFrames;

impl Decoder for ShortFrames {
    type Item = Vec<u8>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Vec<u8>>> {
        let Some(&len) = src.first() else {
            return Ok(None);
        };
        if src.len() < 1 + usize::from(len) {
            return Ok(None);
        }
        src.advance(1);
        Ok(Some(src.split_to(usize::from(len)).to_vec()))
    }
}

impl Encoder for ShortFrames {
    type Item<'a> = &'a [u8];
    type Error = io::Error;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> io::Result<()> {
        let len = u8::try_from(item.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
        dst.put_u8(len);
        dst.extend_from_slice(item);
        Ok(())
    }
}

/// A reader that hands out at most `step` bytes per read.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
        let at = self.at;
        buf[..n].copy_from_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

fn encoded(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let sent: io::Result<()> = block_on(async {
        let mut sink = FramedWrite::new(&mut out, ShortFrames);
        for frame in frames {
            sink.send(*frame).await?;
        }
        Ok(())
    });
    assert!(sent.is_ok(), "encoding test frames: {sent:?}");
    out
}

#[test]
fn frames_come_through_whatever_the_read_size() {
    let frames: [&[u8]; 4] = [b"hello", b"", b"a longer frame of bytes", &[7; 255]];
    let bytes = encoded(&frames);
    for step in [1, 2, 3, 7, 64, 100_000] {
        let reader = Trickle {
            bytes: bytes.clone(),
            at: 0,
            step,
        };
        let got: Vec<Vec<u8>> = block_on(
            FramedRead::new(reader, ShortFrames)
                .map(|frame| frame.unwrap())
                .collect(),
        );
        let want: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        assert_eq!(got, want, "read {step} bytes at a time");
    }
}

#[test]
fn a_stream_that_ends_inside_a_frame_is_an_error() {
    let mut bytes = encoded(&[b"whole"]);
    bytes.extend_from_slice(&[9, 1, 2]);
    let mut read = FramedRead::new(Cursor::new(bytes), ShortFrames);
    block_on(async {
        assert_eq!(read.next().await.unwrap().unwrap(), b"whole");
        let err = read.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn encoder_errors_reach_the_sender_and_write_nothing() {
    let mut out = Vec::new();
    let long = [0u8; 300];
    let err = block_on(FramedWrite::new(&mut out, ShortFrames).send(&long[..])).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(out.is_empty());
}

#[test]
fn an_idle_framed_stream_holds_no_buffer_memory() {
    let bytes = encoded(&[b"one", b"two"]);
    let mut framed = Framed::new(Cursor::new(bytes), ShortFrames);
    assert_eq!(
        framed.read_buffer().capacity(),
        0,
        "nothing allocated up front"
    );
    block_on(async {
        assert_eq!(framed.next().await.unwrap().unwrap(), b"one");
        assert_eq!(framed.next().await.unwrap().unwrap(), b"two");
        assert_eq!(framed.read_buffer().capacity(), 0, "released once drained");
        framed.send(&b"reply"[..]).await.unwrap();
    });
    let parts = framed.into_parts();
    assert_eq!(parts.write_buffer.capacity(), 0, "released once written");
    assert_eq!(&parts.io.get_ref()[8..], &[5, b'r', b'e', b'p', b'l', b'y']);
}

#[test]
fn parts_keep_bytes_read_ahead_for_the_next_codec() {
    let mut bytes = encoded(&[b"first"]);
    bytes.extend_from_slice(&encoded(&[b"second"]));
    // A reader that delivers everything in one read, so "second" is read
    // ahead into the buffer while "first" is decoded.
    let framed = Framed::new(
        Trickle {
            bytes,
            at: 0,
            step: usize::MAX,
        },
        ShortFrames,
    );
    let mut framed = framed;
    let first = block_on(framed.next()).unwrap().unwrap();
    assert_eq!(first, b"first");
    let parts = framed.into_parts().map_codec(|codec| codec);
    assert_eq!(parts.read_buffer.len(), 7, "the read-ahead frame is kept");
    let mut rebuilt = Framed::from_parts(parts);
    assert_eq!(block_on(rebuilt.next()).unwrap().unwrap(), b"second");
    assert!(block_on(rebuilt.next()).is_none());
}

#[test]
fn writes_wait_in_the_buffer_until_the_high_water_mark() {
    let mut out = Vec::new();
    block_on(async {
        let mut sink = FramedWrite::new(&mut out, ShortFrames);
        sink.set_send_high_water_mark(8);
        assert_eq!(sink.send_high_water_mark(), 8);
        sink.feed(&b"abc"[..]).await.unwrap();
        assert!(sink.is_empty(), "4 bytes wait below the mark of 8");
        sink.feed(&b"defgh"[..]).await.unwrap();
        sink.feed(&b"i"[..]).await.unwrap();
        assert_eq!(sink.len(), 10, "crossing the mark wrote the first 10 bytes");
        sink.flush().await.unwrap();
        assert_eq!(sink.len(), 12);
    });
}
