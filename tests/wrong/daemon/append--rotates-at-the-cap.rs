//! wrong: the log rotates when a frame would fill it exactly, so it never reaches its cap
//! caught-by: daemon::a_frame_that_fits_exactly_stays_and_an_empty_log_is_never_rotated
        if self.size > 0 && self.size + frame.len() as u64 >= self.max {
            std::fs::rename(&self.path, Self::previous(&self.path))
                .with_context(|| format!("rotating {}", self.path.display()))?;
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?;
            self.size = 0;
        }
        self.file.write_all(frame).with_context(|| format!("writing {}", self.path.display()))?;
        self.size += frame.len() as u64;
        Ok(())
