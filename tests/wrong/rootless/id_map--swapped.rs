//! wrong: the fields are swapped: OUTSIDE INSIDE COUNT instead of INSIDE OUTSIDE COUNT
//! caught-by: rootless::root_inside_is_the_user_outside
    let mut lines = vec![[own, 0, 1]];
    if let Some(range) = subordinate {
        lines.push([range.start, 1, range.count]);
    }
    lines
