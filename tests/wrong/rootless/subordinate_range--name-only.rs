//! wrong: only the user name is looked for, never the uid that subuid(5) allows in its place
//! caught-by: rootless::the_users_subordinate_range_is_found_by_name_or_by_uid
    let _ = uid;
    contents.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        if fields.next()? != user {
            return None;
        }
        let range = IdRange { start: fields.next()?.parse().ok()?, count: fields.next()?.parse().ok()? };
        (range.count > 0).then_some(range)
    })
