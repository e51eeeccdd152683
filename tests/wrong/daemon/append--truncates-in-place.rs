//! wrong: the full log is truncated in place, so the output before it is lost
//! caught-by: daemon::the_log_keeps_its_cap_and_the_latest_output
        if self.size > 0 && self.size + frame.len() as u64 > self.max {
            self.file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?;
            self.size = 0;
        }
        self.file.write_all(frame).with_context(|| format!("writing {}", self.path.display()))?;
        self.size += frame.len() as u64;
        Ok(())
