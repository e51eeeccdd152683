//! wrong: the subordinate range is taken to be useradd's 65536 ids, whatever /etc/subuid gives
//! caught-by: rootless::root_inside_is_the_user_outside
    let mut lines = vec![[0, own, 1]];
    if let Some(range) = subordinate {
        lines.push([1, range.start, 65536]);
    }
    lines
