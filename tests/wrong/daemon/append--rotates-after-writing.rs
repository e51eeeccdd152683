//! wrong: the frame is written first and the log rotated after, so the file passes its cap
//! caught-by: daemon::the_log_keeps_its_cap_and_the_latest_output
        self.file.write_all(frame).with_context(|| format!("writing {}", self.path.display()))?;
        self.size += frame.len() as u64;
        if self.size > self.max {
            std::fs::rename(&self.path, Self::previous(&self.path))
                .with_context(|| format!("rotating {}", self.path.display()))?;
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?;
            self.size = 0;
        }
        Ok(())
