"""PyTorch side of scripts/engine-torch-parity.ts: replays the engine's training steps with PyTorch's
own ops (nn.Conv2d padding 1, nn.BatchNorm, torch.optim.SGD, F.kl_div / F.cross_entropy) from the
engine's initial checkpoint and inputs, and compares losses and final variables with the engine's.

usage: python3 engine_torch_parity.py <dir written by engine-torch-parity.ts>
Replays in float64 (the reference) and in float32 (the scale of float32 rounding for this model and
input: the engine should differ from float64 by about as much as PyTorch's float32 does).
prints: one JSON line {losses_*, engine_vs_torch64: {loss, var, worst_var}, torch32_vs_torch64: {…}}.

Block, resnet and mlp below are the engine's encoder and heads (electron/engine/models) in PyTorch;
scripts/torch_isd_step.py times the same step as the benchmark's reference (docs/cli.md).
"""
import json, sys
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.sc is None else self.sc(x)))


def resnet(channels, widths, blocks):
    layers = [nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    cin = widths[0]
    for i, (w, n) in enumerate(zip(widths, blocks)):
        for j in range(n):
            layers.append(Block(cin, w, 2 if (j == 0 and i > 0) else 1)); cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), cin


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o))


def read_checkpoint(path):
    m = json.load(open(f'{path}/manifest.json'))
    w = np.fromfile(f'{path}/weights.bin', dtype='<f4')
    return m, {v['name']: w[v['offset']:v['offset'] + v['length']].reshape(v['shape']) for v in m['variables']}


def to_torch(name, value):
    """Engine layouts to PyTorch's: conv [kh,kw,cin,cout] → [cout,cin,kh,kw]; linear [in,out] → [out,in]."""
    t = torch.from_numpy(np.array(value, dtype=np.float64)).to(torch.get_default_dtype())
    if t.dim() == 4: return t.permute(3, 2, 0, 1).contiguous()
    if t.dim() == 2 and not name.startswith('queue'): return t.t().contiguous()
    return t


def tensors_in_order(module):
    """Parameters and BN buffers in registration order (the engine's ParamStore order)."""
    out = []
    for _, mod in module.named_modules():
        for n, p in mod.named_parameters(recurse=False): out.append(p)
        for n, b in mod.named_buffers(recurse=False):
            if n != 'num_batches_tracked': out.append(b)
    return out


def bind(module, prefix, values):
    names = [n for n in values if n.startswith(prefix)]
    ts = tensors_in_order(module)
    assert len(names) == len(ts), (prefix, len(names), len(ts))
    for n, t in zip(names, ts):
        v = to_torch(n, values[n])
        assert v.shape == t.shape, (n, tuple(v.shape), tuple(t.shape))
        with torch.no_grad(): t.copy_(v)
    return names


def replay(d, spec, m0, v0, dtype):
    """Runs the engine's steps in PyTorch at `dtype` from the initial checkpoint; returns losses, final variables, queue."""
    torch.set_default_dtype(dtype)
    o = m0['config']['step']
    h, w, c = o['inputShape']
    widths = spec['widths']; blocks = spec['blocks']
    body_s, feat = resnet(c, widths, blocks); proj_s = mlp(feat, 2 * feat, 128)
    body_t, _ = resnet(c, widths, blocks); proj_t = mlp(feat, 2 * feat, 128)
    isd = o['method'] == 'isd'
    pred = mlp(128, 2 * feat, 128) if isd else None
    student = nn.Sequential(body_s, proj_s)
    teacher = nn.Sequential(body_t, proj_t)
    modules = {'student.backbone.': body_s, 'student.proj.': proj_s, 'teacher.backbone.': body_t, 'teacher.proj.': proj_t}
    if isd: modules['student.pred.'] = pred
    order = {prefix: bind(mod, prefix, v0) for prefix, mod in modules.items()}
    queue = to_torch('queue.keys', v0['queue.keys'])
    ptr = m0['queue']['pointer']
    params = list(student.parameters()) + (list(pred.parameters()) if isd else [])
    opt = torch.optim.SGD(params, lr=0.1, momentum=o['momentum'], weight_decay=o['weightDecay'])
    # the momentum buffers start at zero, as PyTorch's first step assumes
    assert all(np.all(v0[n] == 0) for n in v0 if n.startswith('opt.momentum.'))
    student.train(); teacher.train()
    if isd: pred.train()
    xs_all = np.fromfile(f'{d}/inputs.bin', dtype='<f4').reshape(len(spec['lr']), 2, o['batchSize'], h, w, c)
    losses = []
    for i, lr in enumerate(spec['lr']):
        for g in opt.param_groups: g['lr'] = lr
        xs = torch.from_numpy(xs_all[i, 0]).to(dtype).permute(0, 3, 1, 2).contiguous()
        xt = torch.from_numpy(xs_all[i, 1]).to(dtype).permute(0, 3, 1, 2).contiguous()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()): pt.mul_(o['ema']).add_(ps.detach(), alpha=1 - o['ema'])
            k = F.normalize(teacher(xt), dim=1)
        z = student(xs)
        q = F.normalize(pred(z) if isd else z, dim=1)
        if isd:
            loss = F.kl_div(F.log_softmax(q @ queue.t() / o['tempStudent'], 1), F.softmax(k @ queue.t() / o['tempTeacher'], 1), reduction='batchmean')
        else:
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / o['temperature']
            loss = F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
        opt.zero_grad(); loss.backward(); opt.step()
        b = k.shape[0]
        queue[ptr:ptr + b] = k.detach()
        ptr = (ptr + b) % queue.shape[0]
        losses.append(loss.item())
    final = {}
    for prefix, mod in modules.items():
        for n, t in zip(order[prefix], tensors_in_order(mod)): final[n] = t.detach().double()
    final['queue.keys'] = queue.double()
    return losses, final


def compare(a, b):
    """Largest |a − b| / max(1, max|b|) over the variables of b, and where."""
    worst = ('', 0.0)
    for n, ref in b.items():
        diff = (a[n] - ref).abs().max().item() / max(1.0, ref.abs().max().item())
        if diff > worst[1]: worst = (n, diff)
    return worst


def main():
    d = sys.argv[1]
    spec = json.load(open(f'{d}/steps.json'))
    m0, v0 = read_checkpoint(spec['initial'])
    m1, v1 = read_checkpoint(spec['final'])
    torch.set_num_threads(1)
    l64, f64 = replay(d, spec, m0, v0, torch.float64)
    l32, f32 = replay(d, spec, m0, v0, torch.float32)
    torch.set_default_dtype(torch.float64)
    engine = {n: to_torch(n, v1[n]).double() for n in f64}
    le = spec['losses']
    rel = lambda xs, ref: max(abs(a - b) / max(1, abs(b)) for a, b in zip(xs, ref))
    e_worst = compare(engine, f64)
    t_worst = compare(f32, f64)
    print(json.dumps({'method': m0['config']['step']['method'], 'losses_engine': le, 'losses_torch64': l64, 'losses_torch32': l32,
                      'engine_vs_torch64': {'loss': rel(le, l64), 'var': e_worst[1], 'worst_var': e_worst[0]},
                      'torch32_vs_torch64': {'loss': rel(l32, l64), 'var': t_worst[1], 'worst_var': t_worst[0]},
                      'torch': torch.__version__}))


if __name__ == '__main__':
    main()
