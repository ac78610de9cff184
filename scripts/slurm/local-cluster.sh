#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying the recipe (Debian's slurm-wlm and
# munge: `apt-get install slurm-wlm munge`). Run as root; `local-cluster.sh stop` stops it.
set -euo pipefail
if [ "${1:-}" = stop ]; then
  scontrol shutdown 2>/dev/null || true; sleep 2; pkill -x slurmd || true; pkill -x slurmctld || true; pkill -x munged || true
  exit 0
fi
host=$(hostname -s)
cpus=$(nproc)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
[ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create --force
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 30); do
  sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed' && { sinfo; exit 0; }
  sleep 1
done
echo "the node did not come up; see /var/log/slurm/" >&2
exit 1
