//! wrong: an empty query is let through as the start of every id
//! caught-by: daemon::containers_are_found_by_id_name_or_a_unique_start
    if let Some(found) = known.iter().find(|c| c.id == query) {
        return Ok(found);
    }
    let name = query.strip_prefix('/').unwrap_or(query);
    if let Some(found) = known.iter().find(|c| c.name == name) {
        return Ok(found);
    }
    let mut starting = known.iter().filter(|c| c.id.starts_with(query));
    match (starting.next(), starting.next()) {
        (Some(found), None) => Ok(found),
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "{query} fits more than one container: give more of the id, or the name"
        ))),
        (None, _) => Err(ApiError::not_found(format!("No such container: {query}"))),
    }
