#!/bin/bash
#SBATCH -J mpi-like
#SBATCH -p k8s
#SBATCH -n 4
#SBATCH -c 2
#SBATCH --mem-per-cpu=500M
#SBATCH --ntasks-per-node=4
#SBATCH -t 30:00
# Four tasks of two CPUs on one node: one pod with 8 CPUs and 4000 MiB.
echo "tasks=$SLURM_NTASKS cpus/task=$SLURM_CPUS_PER_TASK cpus=$SLURM_CPUS_ON_NODE"
