//! wrong: the lower layers are joined with `,` (the option separator) instead of `:`
//! caught-by: images::containers_of_one_image_do_not_see_each_others_writes_and_the_layer_is_untouched
        let lower: Vec<String> = self.lower.iter().map(|p| p.display().to_string()).collect();
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(","),
            self.upper.display(),
            self.work.display()
        )
