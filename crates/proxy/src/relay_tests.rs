use super::*;
use tokio::net::TcpListener;

/// A connected pair of loopback sockets.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (a.unwrap(), b.unwrap().0)
}

/// Writes `data` into a pump's source, half-closes it, and returns what the
/// pump counted and what arrived at the far end (read to EOF, so the pump
/// must have half-closed its destination).
async fn through(data: &[u8], copy_only: bool) -> (u64, Vec<u8>) {
    let (mut writer, from) = pair().await;
    let (to, mut reader) = pair().await;
    let write = async {
        writer.write_all(data).await.unwrap();
        writer.shutdown().await.unwrap();
    };
    let moved = async {
        if copy_only {
            let n = copy_pump(&from, &to).await;
            SockRef::from(&to).shutdown(Shutdown::Write).unwrap();
            n
        } else {
            pump(&from, &to).await
        }
    };
    let read = async {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        got
    };
    let ((), n, got) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(write, moved, read)
    })
    .await
    .unwrap();
    (n, got)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn pump_moves_counts_and_half_closes() {
    let data = pattern(3 * 1024 * 1024 + 17);
    let (n, got) = through(&data, false).await;
    assert_eq!(n, data.len() as u64);
    assert!(got == data, "bytes differ");
}

/// The copying path: the only one off Linux, the fallback on it.
#[tokio::test]
async fn copy_pump_moves_counts_and_half_closes() {
    let data = pattern(3 * 1024 * 1024 + 17);
    let (n, got) = through(&data, true).await;
    assert_eq!(n, data.len() as u64);
    assert!(got == data, "bytes differ");
}

#[tokio::test]
async fn pump_of_nothing_still_half_closes() {
    let (n, got) = through(&[], false).await;
    assert_eq!((n, got.len()), (0, 0));
}
