//! A scripted model server on 127.0.0.1 for the agent's end-to-end tests:
//! each request gets the next reply of the script; requests are recorded.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this SSE text, chunked.
    Sse(String),
    /// A status with headers and a body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// 200, part of the SSE text, then the connection closes mid-body.
    Cut(String),
    /// 200, part of the SSE text, then silence for this long.
    Stall(String, std::time::Duration),
}

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct FakeModel {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeModel {
    pub fn start(script: Vec<Reply>) -> FakeModel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::accept(listener, script, |stream, script, recorded| {
            serve_on(stream, script, recorded)
        })
    }

    /// Serves each connection of `listener` on its own thread with `each`.
    fn accept(
        listener: TcpListener,
        script: Vec<Reply>,
        each: impl Fn(TcpStream, &Script, &Mutex<Vec<Request>>) + Send + Sync + Clone + 'static,
    ) -> FakeModel {
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (script, recorded, each) = (script.clone(), recorded.clone(), each.clone());
                std::thread::spawn(move || each(stream, &script, &recorded));
            }
        });
        FakeModel { port, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

/// A test CA and the TLS server's certificate and key (PEM files).
pub struct Tls {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl Tls {
    /// A CA and a server certificate it signed for `ip`, made with the
    /// openssl tool (webpki refuses a self-signed CA as a server's own).
    pub fn for_ip(dir: &std::path::Path, ip: std::net::IpAddr) -> Tls {
        let tls = Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        let ext = dir.join("leaf.ext");
        std::fs::write(
            &ext,
            format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=cordon-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=cordon-test",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        tls
    }
}

impl FakeModel {
    /// Like [`FakeModel::start`], over TLS on `ip`.
    pub fn start_tls(script: Vec<Reply>, ip: std::net::IpAddr, tls: &Tls) -> FakeModel {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&tls.key).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = std::sync::Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = TcpListener::bind((ip, 0)).unwrap();
        Self::accept(listener, script, move |stream, script, recorded| {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            serve_on(rustls::StreamOwned::new(conn, stream), script, recorded)
        })
    }
}

/// The replies still to give.
type Script = Mutex<std::collections::VecDeque<Reply>>;

fn serve_on<S: Read + Write>(stream: S, script: &Script, recorded: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        recorded.lock().unwrap().push(Request {
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Reply::Status(599, vec![], "script exhausted".into()));
        let out = reader.get_mut();
        match reply {
            Reply::Sse(text) => {
                let _ = out.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                // Several chunks, to exercise reassembly.
                for piece in text.as_bytes().chunks(40) {
                    let _ = out.write_all(format!("{:x}\r\n", piece.len()).as_bytes());
                    let _ = out.write_all(piece);
                    let _ = out.write_all(b"\r\n");
                }
                let _ = out.write_all(b"0\r\n\r\n");
            }
            Reply::Status(code, hdrs, body) => {
                let mut head = format!(
                    "HTTP/1.1 {code} Scripted\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (n, v) in hdrs {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(body.as_bytes());
            }
            Reply::Stall(text, pause) => {
                first_chunk_only(&mut *out, &text);
                std::thread::sleep(pause);
                return;
            }
            Reply::Cut(text) => {
                first_chunk_only(&mut *out, &text);
                return;
            }
        }
        let _ = out.flush();
    }
}

/// Responses API: a text answer with usage.
pub fn responses_text(text: &str) -> String {
    format!(
        "event: response.created\ndata: {{}}\n\nevent: response.reasoning_summary_text.delta\ndata: {}\n\nevent: response.output_text.delta\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{\"usage\":{{\"input_tokens\":11,\"output_tokens\":7}}}}}}\n\n",
        serde_json::json!({"delta": "thinking it over"}),
        serde_json::json!({"delta": text})
    )
}

/// Responses API: one function call.
pub fn responses_call(call_id: &str, name: &str, args: &Value) -> String {
    format!(
        "event: response.output_item.done\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{\"usage\":{{\"input_tokens\":5,\"output_tokens\":3}}}}}}\n\n",
        serde_json::json!({"item": {"type": "function_call", "call_id": call_id, "name": name, "arguments": args.to_string()}})
    )
}

/// Chat Completions: a text answer.
pub fn chat_text(text: &str) -> String {
    format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        serde_json::json!({"choices": [{"delta": {"content": text}, "finish_reason": "stop"}]}),
        serde_json::json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    )
}

/// Chat Completions: one function call, its arguments in three pieces.
pub fn chat_call(call_id: &str, name: &str, args: &Value) -> String {
    let text = args.to_string();
    let (a, rest) = text.split_at(text.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let piece = |first: bool, part: &str| {
        let mut call = serde_json::json!({"index": 0, "function": {"arguments": part}});
        if first {
            call["id"] = serde_json::json!(call_id);
            call["type"] = serde_json::json!("function");
            call["function"]["name"] = serde_json::json!(name);
        }
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"delta": {"tool_calls": [call]}}]})
        )
    };
    format!(
        "{}{}{}data: {}\n\ndata: [DONE]\n\n",
        piece(true, a),
        piece(false, b),
        piece(false, c),
        serde_json::json!({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
    )
}

/// A chunked SSE response head and one chunk of `text`, and no end: the
/// stream stays open (a stall) or closes early (a cut) after it.
fn first_chunk_only(out: &mut impl Write, text: &str) {
    let _ = out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let _ = out.write_all(format!("{:x}\r\n", text.len()).as_bytes());
    let _ = out.write_all(text.as_bytes());
    let _ = out.write_all(b"\r\n");
    let _ = out.flush();
}
