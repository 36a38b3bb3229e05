#!/bin/bash
#SBATCH --job-name=train
#SBATCH --partition=k8s
#SBATCH --gres=gpu:a100:2
#SBATCH --cpus-per-task=8
#SBATCH --mem-per-gpu=16G
#SBATCH --time=1-00:00:00
#SBATCH --tmp=20G
#BRIDGE --image=harbor.lab.example/ml/pytorch:2.4
# The #BRIDGE line names the container image; stock sbatch treats it as a comment.
python3 train.py --epochs 10
