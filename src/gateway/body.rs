//! Reading a request body with its cap applied as the bytes arrive: refused at once when its
//! Content-Length says too much, or as soon as the bytes that came pass the cap, so never more
//! than the cap is held. A body that stops arriving is given up on. And what the gateway changes
//! of a request body before forwarding it (`prepare`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body;

use crate::config::ProviderKind;

#[derive(Debug, PartialEq)]
pub(super) enum BodyError {
    TooLarge,
    /// Nothing arrived for this long.
    Stalled(Duration),
    Broken(String),
}

/// Whether the body's declared length (Content-Length) is past `cap` already.
pub(super) fn declared_too_large(body: &impl Body, cap: usize) -> bool {
    body.size_hint().lower() > cap as u64
}

/// The whole body, if it is at most `cap` bytes and keeps arriving (a pause longer than `idle`
/// gives up).
pub(super) async fn read<B>(mut body: B, cap: usize, idle: Duration) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    if declared_too_large(&body, cap) {
        return Err(BodyError::TooLarge);
    }
    let expected = usize::try_from(body.size_hint().lower()).unwrap_or(cap);
    let mut buf: Vec<u8> = Vec::with_capacity(expected.min(cap));
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled(idle)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers carry nothing to forward.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > cap {
            return Err(BodyError::TooLarge);
        }
        // Grow by doubling, but never past the cap: the buffer is the memory this costs.
        if buf.capacity() - buf.len() < data.len() {
            let want = (buf.capacity() * 2).max(buf.len() + data.len()).min(cap);
            buf.reserve_exact(want - buf.len());
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// The requested model, and for an OpenAI chat stream, a request for the usage chunk (the
/// stream itself comes back unchanged apart from that last chunk).
pub(super) fn prepare(
    kind: ProviderKind,
    segments: &[String],
    body: Bytes,
) -> (Bytes, Option<String>) {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (body, None);
    };
    let model = v.get("model").and_then(|m| m.as_str()).map(str::to_string);
    let wants_stream = v.get("stream").and_then(|s| s.as_bool()).unwrap_or(false);
    if kind == ProviderKind::Openai
        && wants_stream
        && segments == ["chat", "completions"]
        && v.get("stream_options").is_none()
    {
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "stream_options".into(),
                serde_json::json!({"include_usage": true}),
            );
            if let Ok(b) = serde_json::to_vec(&v) {
                return (Bytes::from(b), model);
            }
        }
    }
    (body, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    type Frames = std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>;

    fn chunks(n: usize, size: usize) -> StreamBody<futures_util::stream::Iter<Frames>> {
        let frames: Vec<_> = (0..n)
            .map(|_| Ok(Frame::data(Bytes::from(vec![b'x'; size]))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let got = read(chunks(4, 1000), 4000, IDLE).await.unwrap();
        assert_eq!(got.len(), 4000);
        let got = read(Full::new(Bytes::from_static(b"{}")), 10, IDLE).await;
        assert_eq!(got.unwrap(), Bytes::from_static(b"{}"));
    }

    #[tokio::test]
    async fn a_body_past_the_cap_stops_at_the_cap() {
        assert_eq!(
            read(chunks(5, 1000), 4000, IDLE).await,
            Err(BodyError::TooLarge)
        );
        // Its declared length alone is enough.
        let full = Full::new(Bytes::from(vec![0u8; 11]));
        assert!(declared_too_large(&full, 10));
        assert_eq!(read(full, 10, IDLE).await, Err(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_is_given_up() {
        let pending = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, std::io::Error>,
        >());
        let idle = Duration::from_millis(50);
        assert_eq!(read(pending, 10, idle).await, Err(BodyError::Stalled(idle)));
    }
}
