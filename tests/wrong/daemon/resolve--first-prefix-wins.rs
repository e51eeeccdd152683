//! wrong: the first id that starts with the query is taken, though another starts the same way
//! caught-by: daemon::containers_are_found_by_id_name_or_a_unique_start
    if query.is_empty() {
        return Err(ApiError::not_found(format!("No such container: {query}")));
    }
    if let Some(found) = known.iter().find(|c| c.id == query) {
        return Ok(found);
    }
    let name = query.strip_prefix('/').unwrap_or(query);
    if let Some(found) = known.iter().find(|c| c.name == name) {
        return Ok(found);
    }
    known
        .iter()
        .find(|c| c.id.starts_with(query))
        .ok_or_else(|| ApiError::not_found(format!("No such container: {query}")))
