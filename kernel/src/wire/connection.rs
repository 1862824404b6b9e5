//! The connection file written by the frontend: transport, address, five ports, signing key.

use serde::Deserialize;
use std::path::Path;

/// The fields of a Jupyter connection file this kernel uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionInfo {
    /// `tcp` or `ipc`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// An IP address for `tcp`, a path prefix for `ipc`.
    pub ip: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
    /// The HMAC key; empty means messages are not signed.
    #[serde(default)]
    pub key: String,
    /// Only `hmac-sha256` (or empty, with an empty key) is supported.
    #[serde(default = "default_scheme")]
    pub signature_scheme: String,
}

fn default_transport() -> String {
    "tcp".into()
}

fn default_scheme() -> String {
    "hmac-sha256".into()
}

impl ConnectionInfo {
    /// Reads and checks a connection file.
    pub fn from_file(path: &Path) -> anyhow::Result<ConnectionInfo> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read connection file {}: {e}", path.display()))?;
        Self::from_json(&text)
    }

    /// Parses and checks the JSON text of a connection file.
    pub fn from_json(text: &str) -> anyhow::Result<ConnectionInfo> {
        let info: ConnectionInfo = serde_json::from_str(text)?;
        if info.transport != "tcp" && info.transport != "ipc" {
            anyhow::bail!("unsupported transport {:?} (tcp or ipc)", info.transport);
        }
        if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
            anyhow::bail!("unsupported signature scheme {:?} (hmac-sha256)", info.signature_scheme);
        }
        Ok(info)
    }

    /// The ZeroMQ endpoint for `port`: `tcp://ip:port`, or `ipc://ip-port` as jupyter_client names
    /// ipc sockets.
    pub fn endpoint(&self, port: u16) -> String {
        match self.transport.as_str() {
            "ipc" => format!("ipc://{}-{}", self.ip, port),
            _ => format!("tcp://{}:{}", self.ip, port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_for_both_transports() {
        let tcp = ConnectionInfo::from_json(
            r#"{"ip":"127.0.0.1","shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"key":"k","transport":"tcp","signature_scheme":"hmac-sha256"}"#,
        )
        .unwrap();
        assert_eq!(tcp.endpoint(tcp.shell_port), "tcp://127.0.0.1:1");
        let ipc = ConnectionInfo::from_json(
            r#"{"ip":"/tmp/k","shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"transport":"ipc"}"#,
        )
        .unwrap();
        assert_eq!(ipc.endpoint(ipc.hb_port), "ipc:///tmp/k-5");
        assert!(ConnectionInfo::from_json(r#"{"ip":"x","shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"transport":"udp"}"#).is_err());
    }
}
