#!/bin/sh
#SBATCH --job-name=patterns
#SBATCH --partition=k8s
#SBATCH --chdir=/lab/pnfs/data/alice
#SBATCH --output=logs/%x-%j-%N.out
#SBATCH --error=logs/%x-%u-%4j.err
#SBATCH --open-mode=append
#SBATCH --export=NONE,RUN_MODE=test
#SBATCH --signal=B:USR1@30
#SBATCH --time=5
#SBATCH --requeue
#SBATCH --comment="pattern demo"
echo "out to $SLURM_JOB_NAME-$SLURM_JOB_ID-<node>.out, mode $RUN_MODE"
echo "this goes to the error file" >&2
