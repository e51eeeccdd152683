//! The other way to start a child in new namespaces: one `clone` call with namespace flags,
//! where minibox uses `unshare` in the parent and a plain `fork`. The namespaces chapter of the book compares
//! the two. Run it as root:
//!
//! ```console
//! $ cargo run -q -p minibox --example clone_child
//! ```

use anyhow::Result;
use nix::sched::{CloneFlags, clone};
use nix::sys::wait::waitpid;
use nix::unistd::{getpid, sethostname};

fn main() -> Result<()> {
    // ANCHOR: clone
    // clone runs the closure in the child, on a stack we provide: a few KiB is too little for
    // Rust code, 1 MiB is plenty.
    let mut stack = vec![0u8; 1024 * 1024];
    let flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    let child_main = Box::new(|| {
        let renamed = sethostname("cloned").is_ok();
        println!("child: my pid is {}, hostname set: {renamed}", getpid());
        0
    });
    // SAFETY: this program has one thread, and the child only prints before it exits.
    // SIGCHLD: tell the parent when the child ends, as fork does.
    let child = unsafe { clone(child_main, &mut stack, flags, Some(libc::SIGCHLD)) }?;
    println!("parent: my child is pid {child} out here");
    waitpid(child, None)?;
    // ANCHOR_END: clone
    Ok(())
}
