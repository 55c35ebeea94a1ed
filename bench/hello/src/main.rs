//! `hello [addr] [body-file]`: answers every request with a JSON body, on all cores: a small
//! one, or the bytes of `body-file` (the ceiling for a server answering those bytes from memory).

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(body: Bytes, _: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(body));
    res.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:5999".to_string());
    let body = match std::env::args().nth(2) {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(b"{\"success\":true,\"message\":\"hello\"}"),
    };
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("hello listening on {addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| hello(body.clone(), req));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
