//! wrong: lowerdir lists the layers bottom first (manifest order), but overlayfs takes the top one first
//! caught-by: images::a_file_in_a_higher_layer_hides_the_same_file_below
        let lower: Vec<String> = self.lower.iter().rev().map(|p| p.display().to_string()).collect();
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        )
