"""Kubernetes access: configuration (in-cluster or kubeconfig), a small API client, its errors."""
