//! The request-response codec of `/meshd/data/1`: a 4-byte big-endian
//! length, then the message in mesh-protocol's canonical encoding.
//!
//! The length is checked against the protocol's limit before a byte of the
//! body is read or allocated, and the body goes through mesh-protocol's
//! bounded decoders, so a hostile peer can neither exhaust memory nor
//! panic the node.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use mesh_protocol::wire::{self, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, RequestFrame, Response};

/// The codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeshCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit of {limit}"),
        ));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl libp2p::request_response::Codec for MeshCodec {
    type Protocol = StreamProtocol;
    type Request = RequestFrame;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<RequestFrame> {
        let body = read_frame(io, MAX_REQUEST_BYTES).await?;
        wire::decode_request(&body).map_err(invalid)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        let body = read_frame(io, MAX_RESPONSE_BYTES).await?;
        wire::decode_response(&body).map_err(invalid)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: RequestFrame,
    ) -> io::Result<()> {
        write_frame(io, &wire::encode_request(&request)).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()> {
        write_frame(io, &wire::encode_response(&response)).await
    }
}
