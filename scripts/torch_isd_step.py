"""The ISD training step in PyTorch: the yardstick bench-train measures our engine against.

It times the step our engine times (electron/engine/bench.ts, docs/method.md): a ResNet backbone
with a projection MLP (d -> 2d -> 128) on student and teacher, a predictor MLP (128 -> 2d -> 128) on
the student only, the teacher moved towards the student by EMA (m = 0.99), and the loss
KL(teacher || student) between softmaxes of each one's cosine similarities to a queue of teacher
keys (student temperature 0.1, teacher 0.01); the queue then takes the batch's keys, oldest out.
Inputs are random tensors: augmentation is timed apart (bench-augment), as in `isd bench --quick`.

    /usr/bin/python3 scripts/torch_isd_step.py [--arch resnet20|resnet18] [--batch 128] [--size 28]
        [--channels 1] [--queue 4096] [--steps 10] [--warmup 2] [--threads N] [--device cpu|cuda]

Prints one JSON line: {"engine", "torch", "threads", "device", "arch", "batch", "size", "channels",
"queue", "steps", "images_per_s"}.
"""

import argparse
import json
import time

import torch
from torch import nn
from torch.nn import functional as F

EMBED = 128
STUDENT_T, TEACHER_T, MOMENTUM = 0.1, 0.01, 0.99
# (width of each stage, residual blocks in it): resnet20 for 28-32 px images, resnet18 for larger ones
STAGES = {"resnet20": [(16, 3), (32, 3), (64, 3)], "resnet18": [(64, 2), (128, 2), (256, 2), (512, 2)]}


def conv_bn(cin, cout, kernel, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


class Residual(nn.Module):
    """Two 3x3 convolutions, with a 1x1 projection on the skip path where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), nn.ReLU(inplace=True), conv_bn(cout, cout, 3, 1))
        self.skip = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride)

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


def head(d_in, d_hidden, d_out):
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.BatchNorm1d(d_hidden), nn.ReLU(inplace=True), nn.Linear(d_hidden, d_out))


def encoder(arch, channels):
    """Backbone [B, C, H, W] -> [B, d], then the projection [B, d] -> [B, EMBED]; returns it and d."""
    stages = STAGES[arch]
    layers = [conv_bn(channels, stages[0][0], 3, 1), nn.ReLU(inplace=True)]
    width = stages[0][0]
    for i, (w, blocks) in enumerate(stages):
        for b in range(blocks):
            layers.append(Residual(width, w, 2 if i > 0 and b == 0 else 1))
            width = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), head(width, 2 * width, EMBED)]
    return nn.Sequential(*layers), width


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", choices=sorted(STAGES), default="resnet20")
    for name, default in [("batch", 128), ("size", 28), ("channels", 1), ("queue", 4096), ("steps", 10), ("warmup", 2), ("threads", 0)]:
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)

    student, d = encoder(a.arch, a.channels)
    teacher, _ = encoder(a.arch, a.channels)
    predictor = head(EMBED, 2 * d, EMBED)
    student, teacher, predictor = student.to(dev), teacher.to(dev), predictor.to(dev)
    teacher.load_state_dict(student.state_dict())
    teacher.requires_grad_(False)
    params = [*student.parameters(), *predictor.parameters()]
    sgd = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
    queue = F.normalize(torch.randn(a.queue, EMBED, device=dev), dim=1)  # [Q, EMBED]
    views = torch.randn(2, a.batch, a.channels, a.size, a.size, device=dev)  # the teacher's and the student's view

    def step():
        nonlocal queue
        with torch.no_grad():
            for t, s in zip(teacher.parameters(), student.parameters()):
                t.lerp_(s, 1 - MOMENTUM)  # t = m t + (1 - m) s
            keys = F.normalize(teacher(views[0]), dim=1)  # [B, EMBED]
            target = F.softmax(keys @ queue.T / TEACHER_T, dim=1)  # [B, Q]
        query = F.normalize(predictor(student(views[1])), dim=1)  # [B, EMBED]
        loss = F.kl_div(F.log_softmax(query @ queue.T / STUDENT_T, dim=1), target, reduction="batchmean")
        sgd.zero_grad(set_to_none=True)
        loss.backward()
        sgd.step()
        queue = torch.cat([queue[a.batch :], keys])
        return loss.item()  # reading the loss waits for the step, on any device

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "engine": f"pytorch-{dev.type}",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                "arch": a.arch,
                "batch": a.batch,
                "size": a.size,
                "channels": a.channels,
                "queue": a.queue,
                "steps": a.steps,
                "images_per_s": round(a.steps * a.batch / seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
