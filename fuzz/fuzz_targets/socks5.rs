//! `cordon_proxy::socks::negotiate` must never panic or hang on any client
//! bytes. The first input byte picks the token (odd: `Some("tok")`, even:
//! `None`); the rest is what the client sends. Reads hit EOF at the end of
//! the input, and everything the proxy writes is discarded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("building the tokio runtime: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let token = if first & 1 == 1 { Some("tok") } else { None };
    let reader = Cursor::new(rest.to_vec());
    let mut stream = tokio::io::join(reader, tokio::io::sink());
    let _ = runtime().block_on(cordon_proxy::socks::negotiate(&mut stream, token));
});
