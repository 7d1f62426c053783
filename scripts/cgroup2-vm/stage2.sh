# Second stage of the cgroup v2 test VM: runs after switch_root, on the host's userland (its /bin/sh),
# as root, from the control share at /run/nsrun-vm. Runs the command, leaves its status in
# /run/nsrun-vm/rc for the runner and powers off.
ctl=/run/nsrun-vm
. $ctl/vm.conf
cd "$PROJ" || { echo 125 >$ctl/rc; echo o >/proc/sysrq-trigger; while :; do :; done; }

# The console is a terminal; give the command a pipe instead, as CI would, so test reporters print
# plain lines rather than redraw a status area over a serial line. The relay (cat) is not waited
# for beyond a moment: a process the command left behind may hold the pipe open.
mkfifo /run/nsrun-vm-out
cat /run/nsrun-vm-out &
relay=$!
/bin/sh $ctl/cmd </dev/null >/run/nsrun-vm-out 2>&1
echo $? >$ctl/rc
i=0
while kill -0 $relay 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done

# The checkout is mounted cache=loose: write back what the command wrote there (vitest's cache, test
# output), then power off at once (sysrq 'o'), which itself syncs nothing.
sync
echo o >/proc/sysrq-trigger
while :; do :; done
