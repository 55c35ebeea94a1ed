//! The supervisor's private control socket (`DATA_DIR/nyaya.sock`): it answers `nyaya status`
//! and `nyaya reload`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::Cluster;

/// The control socket, unless another supervisor already answers on it.
pub(super) async fn claim_control_socket(path: &Path) -> anyhow::Result<(UnixListener, PathBuf)> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            bail!("a nyaya supervisor is already running with this DATA_DIR (it answers on {})", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale {}", path.display()))?;
    }
    // bind(2) creates the socket with the umask's mode; made inside a directory only we can
    // enter, then moved into place, it is never reachable by others before it is 0600.
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = path.parent().unwrap_or(Path::new("."));
    let private = parent.join(format!(".nyaya-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("creating {}", private.display()))?;
    let staged = private.join("nyaya.sock");
    let claimed = (|| -> anyhow::Result<UnixListener> {
        let listener = UnixListener::bind(&staged).with_context(|| format!("binding {}", staged.display()))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path).with_context(|| format!("moving the control socket to {}", path.display()))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    Ok((claimed?, path.to_path_buf()))
}

/// One command line per connection: `status` or `reload`; one JSON line back.
pub(super) async fn serve_control(listener: UnixListener, cluster: Arc<Cluster>) {
    while let Ok((stream, _)) = listener.accept().await {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read.take(256)).read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match line.trim() {
                "status" => serde_json::to_value(cluster.shared.status()).unwrap_or_default(),
                "reload" => match cluster.reload().await {
                    Ok(message) => serde_json::json!({"ok": true, "message": message}),
                    Err(error) => serde_json::json!({"ok": false, "error": error}),
                },
                other => serde_json::json!({"ok": false, "error": format!("unknown command {other:?}")}),
            };
            let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
        });
    }
}
