//! wrong: a line is taken as the user's when it merely starts with the name, so `alice2:...` is alice's
//! caught-by: rootless::the_users_subordinate_range_is_found_by_name_or_by_uid
    let _ = uid;
    contents.lines().find_map(|line| {
        if !line.starts_with(user) {
            return None;
        }
        let mut fields = line.split(':').skip(1);
        let range = IdRange { start: fields.next()?.parse().ok()?, count: fields.next()?.parse().ok()? };
        (range.count > 0).then_some(range)
    })
