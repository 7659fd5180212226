//! The two halves of a codec: bytes to frames and frames to bytes.

use bytes::BytesMut;
use std::io;

/// Turns the bytes read so far into frames.
pub trait Decoder {
    /// The frame this decoder produces.
    type Item;
    /// What a malformed frame or a failed read is reported as.
    type Error: From<io::Error>;

    /// Takes one frame off the front of `src`, or returns `None` (leaving
    /// `src` as it is) when `src` does not yet hold a whole frame.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Like [`Decoder::decode`], called once the reader has ended, for
    /// codecs whose last frame is ended by the end of the stream.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.decode(src)
    }
}

/// Turns frames into bytes to be written.
pub trait Encoder {
    /// The frame this encoder takes, possibly borrowed.
    type Item<'a>;
    /// What a frame that cannot be encoded or a failed write is reported as.
    type Error: From<io::Error>;

    /// Appends the encoding of `item` to `dst`.
    fn encode(&mut self, item: Self::Item<'_>, dst: &mut BytesMut) -> Result<(), Self::Error>;
}
