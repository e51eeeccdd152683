//! wrong: the overlay is mounted with MS_RDONLY ("images are read-only"), so the container cannot write at all
//! caught-by: images::containers_of_one_image_do_not_see_each_others_writes_and_the_layer_is_untouched
        let options = self.options();
        mount(Some("overlay"), target, Some("overlay"), MsFlags::MS_RDONLY, Some(options.as_str()))
            .with_context(|| format!("mounting the overlay on {} ({options})", target.display()))
