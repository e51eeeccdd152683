//! wrong: any death by SIGKILL is taken for an OOM kill (a plain `kill -9` is reported as "out of memory")
//! caught-by: cgroups::a_plain_sigkill_is_not_reported_as_out_of_memory
        true
