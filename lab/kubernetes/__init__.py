"""A real Kubernetes control plane per lab cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and KWOK, built from their published Go modules (``lab/tools``, ``hack/build-lab-tools.sh``).

What no real program here can do (give LoadBalancer Services an address in the cluster's network namespace) is
``lab.kubernetes.load_balancers``, a small controller that watches the real API as GKE's does.
"""
