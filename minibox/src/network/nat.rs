//@ begin network
//! NAT with nftables: outbound traffic from the containers leaves with the host's address
//! (masquerade), and published ports send the host's traffic on to a container (DNAT).
//!
//! minibox runs the `nft` program with a script on its standard input (`nft -f -`): one script
//! is one atomic transaction, the rules read as the book shows them, and `nft list ruleset` shows
//! exactly what minibox made. nftables' netlink API would save the program's start (a few
//! milliseconds, paid only when the bridge is made or a port published) at the price of
//! building the kernel's expression bytecode by hand.

use super::Published;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The nftables table that holds every rule minibox makes (in the `ip` family).
pub const TABLE: &str = "minibox";

// ANCHOR: nat_ruleset
/// The table minibox's NAT lives in, as an nft script: a map `ports` from a protocol and a host
/// port to a container's address and port (filled by [`publish`]); DNAT through that map for
/// traffic to any of the host's own addresses, whether it arrives from outside (prerouting) or
/// starts on the host (output); and masquerade for traffic from the containers' subnet that
/// leaves through another device than `bridge`.
pub fn nat_ruleset(bridge: &str) -> String {
    //@ exercise network nat_ruleset
    format!(
        "table ip {TABLE} {{
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {}/{} oifname != \"{bridge}\" masquerade
  }}
}}
",
        super::ipam::SUBNET,
        super::ipam::PREFIX
    )
    //@ stub
    //| let _ = bridge;
    //| todo!("chapter {chapter}, `nat_ruleset`: write the nft table that masquerades the containers' outbound traffic and sends published ports on to them; `cargo xtask hint network nat_ruleset` helps (book: Chapter {chapter}, \"NAT and published ports\")")
    //@ end network nat_ruleset
}
// ANCHOR_END: nat_ruleset

/// Make the table afresh (a leftover of the same name goes first, in the same transaction).
pub fn create_table(bridge: &str) -> Result<()> {
    let script = format!("table ip {TABLE}\ndelete table ip {TABLE}\n{}", nat_ruleset(bridge));
    nft(&script, "creating the NAT rules")
}

/// Is the table there?
pub fn table_exists() -> bool {
    nft(&format!("list table ip {TABLE}\n"), "looking for the NAT rules").is_ok()
}

/// Remove the table, if it is there.
pub fn delete_table() -> Result<()> {
    nft(&format!("table ip {TABLE}\ndelete table ip {TABLE}\n"), "removing the NAT rules")
}

/// Send the host's `port.host` on to `address`'s `port.container`.
pub fn publish(ports: &[Published], address: Ipv4Addr) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let elements: Vec<String> =
        ports.iter().map(|p| format!("{} . {} : {address} . {}", p.protocol, p.host, p.container)).collect();
    let script = format!("add element ip {TABLE} ports {{ {} }}\n", elements.join(", "));
    nft(&script, "publishing ports").map_err(|error| {
        if format!("{error:#}").contains("File exists") {
            anyhow::anyhow!(
                "publishing ports: one of {} is already published by another container",
                list(ports)
            )
        } else {
            error
        }
    })
}

/// Stop publishing `ports`.
pub fn unpublish(ports: &[Published]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = ports.iter().map(|p| format!("{} . {}", p.protocol, p.host)).collect();
    nft(&format!("delete element ip {TABLE} ports {{ {} }}\n", keys.join(", ")), "unpublishing ports")
}

fn list(ports: &[Published]) -> String {
    ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

/// Is the `nft` program there? Checked before anything is made, so that a machine without it gets
/// one line that says what to install.
pub fn check_nft_installed() -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("nft").is_file()))
        .unwrap_or(false)
        || ["/usr/sbin/nft", "/sbin/nft"].iter().any(|p| std::path::Path::new(p).is_file());
    if !found {
        bail!(
            "--network bridge needs the nft program (nftables) for its NAT rules: install it (apt install \
             nftables, dnf install nftables) or run with --network none or --network host"
        );
    }
    Ok(())
}

/// Run `nft -f -` with `script` on its standard input.
fn nft(script: &str, what: &str) -> Result<()> {
    let program = ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or("nft");
    let mut child = Command::new(program)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{what}: running nft (is nftables installed?)"))?;
    let written = child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes()));
    let output = child.wait_with_output().with_context(|| format!("{what}: waiting for nft"))?;
    if let Some(Err(error)) = written {
        return Err(error).with_context(|| format!("{what}: writing to nft"));
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| l.contains("Error")).unwrap_or(stderr.trim());
        let modules = if first.contains("No such file or directory") || first.contains("not supported") {
            " (is the kernel's nftables NAT there? `modprobe nft_chain_nat nft_nat nft_masq nft_fib_ipv4`)"
        } else {
            ""
        };
        bail!("{what}: nft failed: {first}{modules}");
    }
    Ok(())
}
//@ end network
