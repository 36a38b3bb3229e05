#!/bin/sh
# srun inside a bridged Slurm job (batch-bridge): the job is one pod on one node, so a step runs here,
# as srun would run it on a single node: N tasks (-n, default the job's SLURM_NTASKS), each with its
# SLURM_PROCID/SLURM_LOCALID, the step's SLURM_STEP_ID, its own streams from srun's filename patterns
# (%t %j %J %s %N %n %u %x %A %a %%), stdin to task 0, signals forwarded to every task, and srun's exit
# status (the highest of the tasks'). What needs other nodes or Slurm's PMI is refused with a message.
# slurmctld never hears of these steps: sacct shows the job's batch step only.
set -u
me="srun"
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }
refuse() { die "$1 cannot be honoured inside a batch-bridge job (one pod on one Kubernetes node)${2:+: $2}"; }

ntasks="${SLURM_NTASKS:-1}" out="" err="" in="" label=0
while [ $# -gt 0 ]; do
    opt="$1" val="" takes=0
    case "$opt" in
        --*=*) val="${opt#*=}" opt="${opt%%=*}" takes=2 ;;
    esac
    case "$opt" in
        -n|--ntasks|-c|--cpus-per-task|-o|--output|-e|--error|-i|--input|-N|--nodes|-J|--job-name|--mpi|\
        -w|--nodelist|-x|--exclude|--mem|--mem-per-cpu|--mem-per-gpu|--gres|--gpus|-G|--gpus-per-task|\
        --gpus-per-node|--ntasks-per-node|--cpu-bind|--mem-bind|--export|-t|--time|-p|--partition|\
        -A|--account|-q|--qos|--distribution|-m|--het-group|-D|--chdir|--signal|--kill-on-bad-exit|-K|\
        --threads-per-core|--hint|--cpus-per-gpu|--comment|--wckey|--network)
            if [ "$takes" -eq 0 ]; then
                case "$opt" in
                    --kill-on-bad-exit|-K) takes=3 ;;
                    *) [ $# -ge 2 ] || die "option $opt requires an argument"; val="$2"; takes=1 ;;
                esac
            fi ;;
        -n*|-c*|-o*|-e*|-i*|-N*|-J*|-w*|-t*|-p*|-A*|-q*|-D*|-G*)
            val="${opt#-?}" opt="${opt%"$val"}" takes=2 ;;
    esac
    case "$opt" in
        -n|--ntasks) ntasks="$val" ;;
        -c|--cpus-per-task) export SLURM_CPUS_PER_TASK="$val" ;;
        -o|--output) out="$val" ;;
        -e|--error) err="$val" ;;
        -i|--input) in="$val" ;;
        -l|--label) label=1 ;;
        -u|--unbuffered|--exact|--overlap|--exclusive|-Q|--quiet|-v|--verbose|-W|--wait|-X|--disable-status) ;;
        -J|--job-name|--mem|--mem-per-cpu|--mem-per-gpu|--gres|--gpus|-G|--gpus-per-task|--gpus-per-node|\
        --cpu-bind|--mem-bind|-t|--time|-p|--partition|-A|--account|-q|--qos|--comment|--wckey|\
        --threads-per-core|--hint|--cpus-per-gpu|--signal|--network) ;;  # the job's allocation already decides
        --ntasks-per-node) ntasks="$val" ;;
        -K|--kill-on-bad-exit) ;;
        --export)
            case "$val" in ALL|ALL,*) ;; *) refuse "--export=$val" "the step gets the job's environment (ALL)" ;; esac ;;
        -N|--nodes)
            case "$val" in 1|1-1|1-*) ;; *) refuse "--nodes=$val" ;; esac ;;
        -w|--nodelist|-x|--exclude|-m|--distribution) refuse "$opt" ;;
        --mpi)
            case "$val" in none) ;; *) refuse "--mpi=$val" "use an MPI that starts its ranks itself (mpirun), or --mpi=none" ;; esac ;;
        --het-group|--pty|--x11|--jobid|--multi-prog) refuse "$opt" ;;
        -D|--chdir) cd "$val" || die "cannot enter $val" ;;
        --) shift; break ;;
        -*) die "unrecognized option '$opt' (batch-bridge's srun)" ;;
        *) break ;;
    esac
    case "$takes" in 1) shift 2 ;; *) shift ;; esac
done
[ $# -gt 0 ] || die "no command to run"
case "$ntasks" in ''|*[!0-9]*|0) die "invalid number of tasks: $ntasks" ;; esac

state="${TMPDIR:-/tmp}/.batch-bridge-steps"
mkdir -p "$state" 2>/dev/null || state="/scratch/.batch-bridge-steps"
mkdir -p "$state" || die "no writable place for step state"
# Step ids count up per job, as slurmctld hands them out (the batch step is "batch", not a number).
step=0
while ! mkdir "$state/step.$step" 2>/dev/null; do step=$((step + 1)); done
node="${SLURMD_NODENAME:-$(hostname)}"

# pattern TEXT TASK: srun's filename pattern for one task (%t task, %s step, %J job.step, ...).
pattern() {
    p="$1" t="$2" r=""
    while [ -n "$p" ]; do
        case "$p" in
            %%*) r="$r%"; p="${p#%%}" ;;
            %t*) r="$r$t"; p="${p#%t}" ;;
            %s*) r="$r$step"; p="${p#%s}" ;;
            %j*) r="$r${SLURM_JOB_ID:-0}"; p="${p#%j}" ;;
            %J*) r="$r${SLURM_JOB_ID:-0}.$step"; p="${p#%J}" ;;
            %N*) r="$r$node"; p="${p#%N}" ;;
            %n*) r="${r}0"; p="${p#%n}" ;;
            %u*) r="$r${SLURM_JOB_USER:-$(id -un)}"; p="${p#%u}" ;;
            %x*) r="$r${SLURM_JOB_NAME:-}"; p="${p#%x}" ;;
            %A*) r="$r${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-0}}"; p="${p#%A}" ;;
            %a*) r="$r${SLURM_ARRAY_TASK_ID:-0}"; p="${p#%a}" ;;
            *) r="$r${p%"${p#?}"}"; p="${p#?}" ;;
        esac
    done
    printf '%s' "$r"
}

pids=""
forward() { for p in $pids; do kill -s "$1" "$p" 2>/dev/null; done; }
for sig in INT TERM HUP QUIT USR1 USR2 ALRM CONT; do
    # shellcheck disable=SC2064  # the signal name is fixed here, on purpose
    trap "forward $sig" "$sig"
done
echo $$ >"$state/step.$step/srun"

exec 3<&0
t=0
while [ "$t" -lt "$ntasks" ]; do
    (
        export SLURM_PROCID="$t" SLURM_LOCALID="$t" SLURM_NODEID=0 SLURM_STEP_ID="$step" SLURM_STEPID="$step"
        export SLURM_NTASKS="$ntasks" SLURM_NPROCS="$ntasks" SLURM_STEP_NUM_TASKS="$ntasks"
        export SLURM_STEP_NUM_NODES=1 SLURM_STEP_NODELIST="$node" SLURM_STEP_TASKS_PER_NODE="$ntasks"
        for s in INT TERM HUP QUIT USR1 USR2 ALRM CONT; do trap - "$s"; done
        if [ -n "$in" ]; then
            f="$(pattern "$in" "$t")"; exec <"$f" || exit 1
        elif [ "$t" -eq 0 ]; then
            exec <&3  # a background list's stdin is /dev/null in sh: task 0 gets srun's own
        fi
        exec 3<&-
        if [ -n "$out" ]; then f="$(pattern "$out" "$t")"; exec >>"$f" || exit 1; fi
        if [ -n "$err" ]; then f="$(pattern "$err" "$t")"; exec 2>>"$f" || exit 1
        elif [ -n "$out" ]; then exec 2>&1; fi
        if [ "$label" -eq 1 ]; then
            # "N: line", as srun -l prints it; the task's status survives the pipe.
            { "$@" 2>&1; echo "$?" >"$state/step.$step/rc.$t"; } | while IFS= read -r line; do printf '%s: %s\n' "$t" "$line"; done
            exit "$(cat "$state/step.$step/rc.$t")"
        fi
        exec "$@"
    ) &
    pids="$pids $!"
    t=$((t + 1))
done

rc=0 t=0
for p in $pids; do
    while :; do
        wait "$p"; code=$?
        kill -0 "$p" 2>/dev/null || break  # wait returned for a trapped signal: the task still runs
    done
    if [ "$code" -ne 0 ]; then
        if [ "$code" -gt 128 ]; then
            printf '%s: error: %s: task %s: Killed by signal %s\n' "$me" "$node" "$t" "$((code - 128))" >&2
        else
            printf '%s: error: %s: task %s: Exited with exit code %s\n' "$me" "$node" "$t" "$code" >&2
        fi
    fi
    [ "$code" -gt "$rc" ] && rc=$code
    t=$((t + 1))
done
rm -f "$state/step.$step/srun"
exit "$rc"
