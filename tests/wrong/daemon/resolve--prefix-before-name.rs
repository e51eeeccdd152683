//! wrong: an id's start is tried before the names, so a name that starts an id finds the wrong container
//! caught-by: daemon::containers_are_found_by_id_name_or_a_unique_start
    if query.is_empty() {
        return Err(ApiError::not_found(format!("No such container: {query}")));
    }
    if let Some(found) = known.iter().find(|c| c.id == query) {
        return Ok(found);
    }
    let name = query.strip_prefix('/').unwrap_or(query);
    let mut starting = known.iter().filter(|c| c.id.starts_with(query));
    match (starting.next(), starting.next()) {
        (Some(found), None) => Ok(found),
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "{query} fits more than one container: give more of the id, or the name"
        ))),
        (None, _) => known
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {query}"))),
    }
