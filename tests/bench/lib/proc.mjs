// Process figures from /proc (Linux): CPU time and resident memory of the server under test.

import fs from 'node:fs';

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** utime + stime of `pid` and of its reaped children, in ms; null if the process is gone. */
export function cpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
    const [utime, stime] = [Number(fields[11]), Number(fields[12])];
    return ((utime + stime) * 1000) / TICKS;
  } catch {
    return null;
  }
}

/** VmRSS of `pid` in bytes; null if the process is gone. */
/** How many file descriptors a process holds open (null when it cannot be read). */
export function openFds(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

export function rssBytes(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The CPUs this process may run on (from /proc/self/status), e.g. "1" or "0-1". */
export function allowedCpus(pid = 'self') {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Cpus_allowed_list:\s+(\S+)/m);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}
