//! wrong: a blocking open and read of the fifo, with no check on the process: start waits forever for a container that died before reaching its end
//! caught-by: oci::start_gives_up_on_a_process_that_died_before_reaching_the_fifo
    let _ = (pid, start_time);
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .open(fifo)
        .with_context(|| format!("opening the exec fifo {}", fifo.display()))?;
    let mut byte = [0u8; 1];
    reader.read_exact(&mut byte).context("reading the exec fifo")?;
    std::fs::remove_file(fifo).with_context(|| format!("removing {}", fifo.display()))
