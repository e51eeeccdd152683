//! wrong: never reports an OOM kill, so a container killed for memory ends with a bare 137 and no reason
//! caught-by: cgroups::a_command_past_its_memory_limit_is_oom_killed_and_minibox_says_so
        false
