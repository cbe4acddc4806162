# Sourced helper: CPU accounting to detect interference from other processes on the box
# (copied from ../shared/bench/cpuacct.sh, plus cpu_window_begin/end at the end).
#   cpu_busy            -> busy jiffies of the whole machine (user+nice+system+irq+softirq+steal)
#   cpu_tree PID...     -> utime+stime+cutime+cstime jiffies summed over the process trees
# other% = (busy delta - server trees delta - load generator) / (elapsed * ncpu)
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
_cpu_tree_pids() { local p; for p in "$@"; do echo "$p"; _cpu_tree_pids $(cat /proc/"$p"/task/*/children 2>/dev/null); done; }
cpu_tree() {
  local t=0 p s
  [ $# -eq 0 ] && { echo 0; return; }
  for p in $(_cpu_tree_pids "$@" | sort -u); do
    s=$(sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12+$13+$14+$15}')
    t=$((t + ${s:-0}))
  done
  echo "$t"
}
CLK_TCK="$(getconf CLK_TCK)"; NCPU="$(nproc)"
# jiffies (utime+stime+cutime+cstime) summed over all user-space processes (kernel threads excluded:
# pid 2 and its children). Children that exit inside the window are caught via their parent's cutime.
cpu_user_all() {
  local f t=0 s
  for f in /proc/[0-9]*/stat; do
    s=$(sed 's/^.*) //' "$f" 2>/dev/null | awk '$2!=2 && $2!=0 {print $12+$13+$14+$15}')
    t=$((t + ${s:-0}))
  done
  echo "$t"
}

# A measurement window: cpu_window_begin PID... ; <run the load generator, timing it with
# TIMEFORMAT='%U %S'; time ...> ; cpu_window_end LOADGEN_USER_S LOADGEN_SYS_S PID...
# prints "busy,server,loadgen,kernel,other" (% of the whole box).
cpu_window_begin() { _a0=$(cpu_user_all); _b0=$(cpu_busy); _s0=$(cpu_tree "$@"); _t0=$(date +%s.%N); }
cpu_window_end() {
  local wu="$1" ws="$2"; shift 2
  local b1 s1 a1 t1
  b1=$(cpu_busy); s1=$(cpu_tree "$@"); a1=$(cpu_user_all); t1=$(date +%s.%N)
  awk -v a=$((a1-_a0)) -v b=$((b1-_b0)) -v s=$((s1-_s0)) -v wu="$wu" -v ws="$ws" -v t0="$_t0" -v t1="$t1" \
      -v hz="$CLK_TCK" -v n="$NCPU" \
    'BEGIN{el=t1-t0; tot=el*hz*n; w=(wu+ws)*hz; k=b-a; if(k<0)k=0; o=a-s-w; if(o<0)o=0;
           printf "%.0f,%.0f,%.0f,%.0f,%.0f", 100*b/tot, 100*s/tot, 100*w/tot, 100*k/tot, 100*o/tot}'
}
