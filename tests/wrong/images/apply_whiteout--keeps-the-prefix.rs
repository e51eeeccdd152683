//! wrong: the whiteout device keeps the `.wh.` prefix in its name, and opaque directories are treated the same way
//! caught-by: images::a_whiteout_in_an_upper_layer_deletes_a_file_of_a_lower_one
    let hidden = root.join(relative);
    mknod(&hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
        .with_context(|| format!("making the whiteout {}", hidden.display()))
