//! wrong: the line's count is not read; every range is taken to be useradd's 65536 ids
//! caught-by: rootless::the_users_subordinate_range_is_found_by_name_or_by_uid
    let uid = uid.to_string();
    contents.lines().find_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() || (who != user && who != uid) {
            return None;
        }
        let _ = count;
        let range = IdRange { start: start.parse().ok()?, count: 65536 };
        (range.count > 0).then_some(range)
    })
