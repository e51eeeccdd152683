//! wrong: a name is compared as given, so the API's own /NAME is not found
//! caught-by: daemon::containers_are_found_by_id_name_or_a_unique_start
    if query.is_empty() {
        return Err(ApiError::not_found(format!("No such container: {query}")));
    }
    if let Some(found) = known.iter().find(|c| c.id == query) {
        return Ok(found);
    }
    let name = query;
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
