//@ begin network
//! The few rtnetlink requests a container's network needs, over a plain synchronous socket.
//!
//! `ip link add`, `ip addr add` and `ip route add` are each one message to the kernel on a
//! `NETLINK_ROUTE` socket (rtnetlink(7)); the kernel answers each with an acknowledgement or an
//! errno. The messages are built by the netlink-packet-route crate; we send one, read its answer.

use anyhow::{Context, Result, bail};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::{IpAddr, Ipv4Addr};

/// A veth pair to make in one request ([`Netlink::create_veth`]).
pub struct VethPair<'a> {
    /// The end that stays in this network namespace.
    pub host: &'a str,
    /// The other end's name, in its own namespace.
    pub peer: &'a str,
    /// The peer is created in the network namespace of this process.
    pub peer_netns_pid: u32,
    /// The host end's controller (`master`): a bridge's index, from [`Netlink::index_of`].
    pub controller: Option<u32>,
    /// Bring the host end up.
    pub up: bool,
}

/// A netlink socket in the network namespace of the thread that opened it.
pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("opening a netlink socket (NETLINK_ROUTE)")?;
        socket.bind_auto().context("binding the netlink socket")?;
        socket.connect(&SocketAddr::new(0, 0)).context("connecting the netlink socket to the kernel")?;
        Ok(Netlink { socket, sequence: 0 })
    }

    /// Send one request and wait for the kernel's acknowledgement. `what` names it in errors,
    /// the way `ip` would spell it.
    fn request(&mut self, message: RouteNetlinkMessage, create: bool, what: &str) -> Result<()> {
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | if create { NLM_F_CREATE | NLM_F_EXCL } else { 0 };
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        self.socket.send(&buffer, 0).with_context(|| format!("{what}: sending the request"))?;
        let mut answer = vec![0; 8192];
        loop {
            let size = self
                .socket
                .recv(&mut &mut answer[..], 0)
                .with_context(|| format!("{what}: reading the answer"))?;
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..size])
                .with_context(|| format!("{what}: decoding the answer"))?;
            if reply.header.sequence_number != self.sequence {
                continue; // an answer to an earlier request that gave up
            }
            return match reply.payload {
                NetlinkPayload::Error(error) => match error.code {
                    None => Ok(()),
                    Some(code) => {
                        Err(std::io::Error::from_raw_os_error(-code.get())).context(what.to_string())
                    }
                },
                other => bail!("{what}: unexpected answer {other:?}"),
            };
        }
    }

    /// `ip link add NAME type bridge`
    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(RouteNetlinkMessage::NewLink(link), true, &format!("ip link add {name} type bridge"))
            .map_err(|error| missing_module(error, "bridge"))
    }

    // ANCHOR: create_veth
    /// `ip link add HOST [master BRIDGE] [up] type veth peer name PEER netns PID`, as one request:
    /// the kernel creates the pair with the peer directly in the network namespace of process
    /// `pid`, then applies the host end's flags and its controller (a new link's `IFLA_MASTER`
    /// and `ifi_flags` are honoured once it is registered).
    pub fn create_veth(&mut self, pair: &VethPair) -> Result<()> {
        let mut peer_link = LinkMessage::default();
        peer_link.attributes =
            vec![LinkAttribute::IfName(pair.peer.to_string()), LinkAttribute::NetNsPid(pair.peer_netns_pid)];
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(pair.host.to_string()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_link))),
            ]),
        ];
        let mut what = format!("ip link add {}", pair.host);
        if let Some(controller) = pair.controller {
            link.attributes.push(LinkAttribute::Controller(controller));
            what.push_str(&format!(" master {}", name_of(controller)));
        }
        if pair.up {
            link.header.flags = LinkFlags::Up;
            link.header.change_mask = LinkFlags::Up;
            what.push_str(" up");
        }
        what.push_str(&format!(" type veth peer name {} netns {}", pair.peer, pair.peer_netns_pid));
        self.request(RouteNetlinkMessage::NewLink(link), true, &what)
            .map_err(|error| missing_module(error, "veth"))
    }
    // ANCHOR_END: create_veth

    /// The index of the device `name` in this namespace: netlink names devices by index.
    pub fn index_of(&self, name: &str) -> Result<u32> {
        index_of(name)
    }

    /// `ip link set NAME up`
    pub fn set_up(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index_of(name)?;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(link), false, &format!("ip link set {name} up"))
    }

    /// `ip addr add ADDRESS/PREFIX dev NAME`
    pub fn add_address(&mut self, name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index_of(name)?;
        message.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(address)),
            AddressAttribute::Address(IpAddr::V4(address)),
        ];
        let what = format!("ip addr add {address}/{prefix} dev {name}");
        self.request(RouteNetlinkMessage::NewAddress(message), true, &what)
    }

    /// `ip route add default via GATEWAY`
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
        self.request(
            RouteNetlinkMessage::NewRoute(route),
            true,
            &format!("ip route add default via {gateway}"),
        )
    }

    /// `ip link del NAME`; `false` when there was no such device.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(index) = try_index_of(name) else { return Ok(false) };
        let mut link = LinkMessage::default();
        link.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(link), false, &format!("ip link del {name}")) {
            Ok(()) => Ok(true),
            // Gone meanwhile (a veth goes with its peer's namespace).
            Err(error) if is_errno(&error, libc::ENODEV) => Ok(false),
            Err(error) => Err(error),
        }
    }
}

/// Does this device exist (in the calling thread's network namespace)?
pub fn exists(name: &str) -> bool {
    try_index_of(name).is_some()
}

fn try_index_of(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

fn index_of(name: &str) -> Result<u32> {
    try_index_of(name).with_context(|| format!("no network device named {name}"))
}

/// A device's name from its index, for messages (its index when it has none).
fn name_of(index: u32) -> String {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes, NUL included, into `name`.
    let found = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if found.is_null() {
        return format!("index {index}");
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned()
}

/// A kernel without the device kind's module answers EOPNOTSUPP: say which module to load.
fn missing_module(error: anyhow::Error, module: &str) -> anyhow::Error {
    if is_errno(&error, libc::EOPNOTSUPP) {
        error.context(format!(
            "the kernel lacks the {module} module: `modprobe {module}`, or run with --network none"
        ))
    } else {
        error
    }
}

/// Is `error` (or one of its causes) the system error `errno`?
pub fn is_errno(error: &anyhow::Error, errno: i32) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error) == Some(errno)
    })
}
//@ end network
