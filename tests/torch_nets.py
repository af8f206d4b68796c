"""Small networks in the styles of the torchvision zoo, written here (torchvision cannot run beside
the CPU torch of the tests): what `nnshape import torch` must import exactly."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    """ResNet's: an in-place add of the identity or of a 1×1 projection."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNetStyle(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16), BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, **kw):
        super().__init__(nn.Conv2d(cin, cout, k, bias=False, **kw), nn.BatchNorm2d(cout, eps=0.001), nn.ReLU(inplace=True))


class InceptionBlock(nn.Module):
    """Inception-v3's: four branches concatenated, one of them forking again."""

    def __init__(self, cin):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 8, 1)
        self.branch3x3_1 = ConvBN(cin, 8, 1)
        self.branch3x3_2a = ConvBN(8, 8, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(8, 8, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(cin, 4, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b3, bp], 1)


class InceptionStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3, 12, 3, stride=2)
        self.mixed = InceptionBlock(12)
        self.fc = nn.Linear(28, 5)

    def forward(self, x):
        x = self.mixed(self.stem(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = F.dropout(x, training=self.training)
        return self.fc(torch.flatten(x, 1))


class SqueezeExcitation(nn.Module):
    def __init__(self, c, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidual(nn.Module):
    """MobileNet-v3's: expand, depthwise, squeeze-excite, project; a residual when shapes allow."""

    def __init__(self, cin, cexp, cout, stride):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Sequential(nn.Conv2d(cin, cexp, 1, bias=False), nn.BatchNorm2d(cexp), nn.Hardswish()),
            nn.Sequential(nn.Conv2d(cexp, cexp, 3, stride, 1, groups=cexp, bias=False), nn.BatchNorm2d(cexp), nn.Hardswish()),
            SqueezeExcitation(cexp, 8),
            nn.Sequential(nn.Conv2d(cexp, cout, 1, bias=False), nn.BatchNorm2d(cout)),
        )

    def forward(self, x):
        out = self.block(x)
        if self.use_res:
            out = out + x
        return out


class MobileNetStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish()),
            InvertedResidual(16, 32, 16, 1),
            InvertedResidual(16, 48, 24, 2),
            InvertedResidual(24, 64, 24, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(24, 32), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, inputs):
        prev = [inputs] if isinstance(inputs, torch.Tensor) else inputs
        x = torch.cat(prev, 1)
        return self.conv1(self.relu1(self.norm1(x)))


class DenseStyle(nn.Module):
    """DenseNet's block: every layer reads the concatenation of all earlier outputs."""

    def __init__(self, layers=3, growth=4):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layers = nn.ModuleList(DenseLayer(8 + i * growth, growth) for i in range(layers))
        self.head = nn.Linear(8 + layers * growth, 3)

    def forward(self, x):
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(features))
        x = torch.cat(features, 1)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ShuffleBlock(nn.Module):
    """ShuffleNet-v2's: split the channels, transform one half, concatenate, shuffle."""

    def __init__(self, c):
        super().__init__()
        half = c // 2
        self.branch2 = nn.Sequential(nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
                                     nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False), nn.BatchNorm2d(half))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        out = torch.cat((x1, self.branch2(x2)), dim=1)
        b, c, h, w = out.size()
        out = out.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous()
        return out.view(b, c, h, w)


class ShuffleStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 2, 1)
        self.stage = nn.Sequential(ShuffleBlock(16), ShuffleBlock(16))
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = self.stage(self.conv1(x))
        return self.fc(x.mean([2, 3]))


class EncoderBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * d, d), nn.Dropout(0.0))

    def forward(self, inp):
        x = self.ln_1(inp)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = x + inp
        return x + self.mlp(self.ln_2(x))


class ViTStyle(nn.Module):
    """torchvision's ViT: patches by a strided conv, a class token, learned positions, pre-norm blocks."""

    def __init__(self, image=32, patch=8, d=32, heads=4, layers=2, classes=10):
        super().__init__()
        self.patch = patch
        self.conv_proj = nn.Conv2d(3, d, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))
        n = (image // patch) ** 2 + 1
        self.pos_embedding = nn.Parameter(torch.randn(1, n, d) * 0.02)
        self.layers = nn.Sequential(*[EncoderBlock(d, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        n, c, h, w = x.shape
        x = self.conv_proj(x)
        x = x.reshape(n, x.shape[1], (h // self.patch) * (w // self.patch)).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = x + self.pos_embedding
        x = self.ln(self.layers(x))
        return self.head(x[:, 0])


class LayerScaleBlock(nn.Module):
    """ConvNeXt's: depthwise conv, channels-last LayerNorm, MLP, a learned per-channel scale."""

    def __init__(self, c):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1 = nn.Linear(c, 4 * c)
        self.pw2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c, 1, 1), 1e-6))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.gamma * y


class ConvNeXtStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.blocks = nn.Sequential(LayerScaleBlock(16), LayerScaleBlock(16))
        self.head = nn.Linear(16, 7)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean((-2, -1)))


class LSTMTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 24, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(48, 5)

    def forward(self, ids):
        x, _ = self.lstm(self.embed(ids))
        return self.out(x)


def transformer():
    return nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64, batch_first=True)


# unmappable on purpose


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


class CustomOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bil = nn.Bilinear(8, 8, 4)

    def forward(self, x):
        y = self.fc(x)
        return self.bil(y, x)


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


class TiedLM(nn.Module):
    """A language model whose head holds the embedding's weight, and a layer applied twice."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.block = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
        self.out = nn.Linear(16, 50, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, x):
        return self.out(self.block(self.block(self.emb(x))))


class SkipAcross(nn.Module):
    """A tensor read after other merges (a U-Net skip) and one read by two different ops later."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(8, 8, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.dec = nn.Conv2d(16, 4, 3, padding=1)
        self.gate = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        m = self.mid(e2) + e2
        d = self.dec(torch.cat([self.up(m), e1], 1))
        return d * torch.sigmoid(self.gate(e1))


class ShapeDependent(nn.Module):
    """Python control flow on a size: torch.fx cannot trace it, torch.export can."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        if x.shape[-1] > 8:
            x = F.max_pool2d(x, 2)
        y = torch.relu(self.bn(self.conv(x)))
        z = y.flatten(2).transpose(1, 2)
        a, _ = self.attn(z, z, z)
        z = z + a
        return self.head(z[:, 0])


class Conv3DSimple(nn.Conv3d):
    """torchvision's video ResNet: a Conv3d subclass that only fixes the constructor's arguments."""

    def __init__(self, cin, cout, stride=1, padding=1):
        super().__init__(cin, cout, kernel_size=(3, 3, 3), stride=stride, padding=padding, bias=False)


class FunctionalConvs(nn.Module):
    """F.conv3d and F.linear with the module's own weights (a custom layer written with functions)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 1, 3, 3))
        self.b = nn.Parameter(torch.zeros(4))
        self.sub = Conv3DSimple(4, 6, stride=(1, 2, 2))
        self.fc_w = nn.Parameter(torch.randn(5, 6))

    def forward(self, x):
        x = F.conv3d(x, self.w, self.b, (1, 2, 2), (0, 1, 1))
        x = self.sub(torch.relu(x)).mean((2, 3, 4))
        return F.linear(x, self.fc_w)


def _patch_merging_pad(x):
    """torchvision's Swin patch merging (its own function, kept whole by torch.fx.wrap there)."""
    H, W, _ = x.shape[-3:]
    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
    return torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)


torch.fx.wrap("_patch_merging_pad")


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        return self.reduction(self.norm(_patch_merging_pad(x)))


class SwinStyle(nn.Module):
    """Channels-last stages with patch merging (attention left out: it needs window attention)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, 4)
        self.merge = PatchMerging(8)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        x = self.merge(x)
        return self.head(x.mean((1, 2)))


class KeywordInputs(nn.Module):
    """A forward whose optional inputs come by name (a mask left at None, a context given)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.context_proj = nn.Linear(6, 8)

    def forward(self, x, mask=None, context=None, scale: bool = True):
        if mask is not None:
            x = x * mask
        h = self.proj(x)
        if context is not None:
            h = h + self.context_proj(context)
        return h


def tiny_t5():
    """A two-layer T5 (encoder-decoder: its forward needs input_ids and decoder_input_ids)."""
    import transformers

    cfg = transformers.T5Config(vocab_size=101, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                relative_attention_num_buckets=8, relative_attention_max_distance=20)
    return transformers.T5ForConditionalGeneration(cfg)


class VideoSwinStyle(nn.Module):
    """torchvision's Video Swin in small: a 2×4×4 patch embedding that pads T, H and W to multiples
    of the patch, shifted 3-D window attention (under torchvision's class name), 5-D patch merging
    (H and W padded to even), the norm and the average over T, H and W."""

    def __init__(self):
        from window_reference import ShiftedWindowAttention3d

        super().__init__()
        self.proj = nn.Conv3d(3, 8, (2, 4, 4), (2, 4, 4))
        self.norm0 = nn.LayerNorm(8)
        self.norm1 = nn.LayerNorm(8)
        self.attn = ShiftedWindowAttention3d(8, (2, 3, 3), (1, 1, 1), 2)
        self.merge = PatchMerging(8)
        self.norm = nn.LayerNorm(16)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        t, h, w = x.shape[-3:]
        x = F.pad(x, (0, (4 - w % 4) % 4, 0, (4 - h % 4) % 4, 0, (2 - t % 2) % 2))
        x = self.norm0(self.proj(x).permute(0, 2, 3, 4, 1))
        x = x + self.attn(self.norm1(x))
        x = self.norm(self.merge(x))
        return self.head(torch.flatten(self.avgpool(x.permute(0, 4, 1, 2, 3)), 1))


class ShiftedWindowAttentionV2(nn.Module):
    """torchvision's Swin V2 attention restated from its semantics (same attribute names; the class
    says it is theirs, so the importer maps it as it maps torchvision's): one qkv linear whose k
    third of the bias forward zeroes, scaled cosine scores (logit scale clamped at log 100), the
    continuous position bias (an MLP 2 → hidden → heads over log-spaced offsets, 16·sigmoid),
    padding to whole windows, the roll and the −100 mask of shifted windows."""

    __module__ = "torchvision.models.swin_transformer"

    def __init__(self, dim, window_size, shift_size, num_heads, qkv_bias=True, proj_bias=True, hidden=512):
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = list(window_size), list(shift_size), num_heads
        self.attention_dropout = self.dropout = 0.0
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(num_heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, num_heads, bias=False))
        wh, ww = self.window_size
        spans = [torch.arange(-(w - 1), w, dtype=torch.float32) * 8 / (w - 1) for w in (wh, ww)]
        table = torch.stack(torch.meshgrid(spans, indexing="ij")).permute(1, 2, 0).contiguous()[None]
        self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0)
        pos = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
        rel = (pos[:, :, None] - pos[:, None, :]).permute(1, 2, 0) + torch.tensor([wh - 1, ww - 1])
        self.register_buffer("relative_position_index", (rel[:, :, 0] * (2 * ww - 1) + rel[:, :, 1]).flatten())

    def forward(self, x):
        b, h, w, c = x.shape
        (wh, ww), heads = self.window_size, self.num_heads
        length = wh * ww
        x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        _, ph, pw, _ = x.shape
        sh, sw = (self.shift_size[0] if wh < ph else 0), (self.shift_size[1] if ww < pw else 0)
        if sh + sw:
            x = torch.roll(x, (-sh, -sw), (1, 2))
        groups = (ph // wh) * (pw // ww)
        x = x.view(b, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * groups, length, c)
        bias = self.qkv.bias
        if bias is not None:
            bias = bias.clone()
            bias[c:2 * c].zero_()
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b * groups, length, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        table = self.cpb_mlp(self.relative_coords_table).view(-1, heads)
        rel = table[self.relative_position_index].view(length, length, -1).permute(2, 0, 1).contiguous()[None]
        attn = attn + 16 * torch.sigmoid(rel)
        if sh + sw:
            region = x.new_zeros(ph, pw)
            count = 0
            for hs in ((0, -wh), (-wh, -sh), (-sh, None)):
                for ws in ((0, -ww), (-ww, -sw), (-sw, None)):
                    region[hs[0]:hs[1], ws[0]:ws[1]] = count
                    count += 1
            region = region.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(groups, length)
            mask = (region[:, None] - region[:, :, None]).ne(0).float() * -100.0
            attn = (attn.view(b, groups, heads, length, length) + mask[None, :, None]).view(-1, heads, length, length)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b * groups, length, c)
        x = self.proj(x).view(b, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sh + sw:
            x = torch.roll(x, (sh, sw), (1, 2))
        return x[:, :h, :w].contiguous()


class SwinV2Block(nn.Module):
    """SwinTransformerBlockV2: post-norm, x + norm1(attn(x)), then x + norm2(mlp(x))."""

    def __init__(self, dim, heads, window, shift, hidden=64):
        super().__init__()
        self.attn = ShiftedWindowAttentionV2(dim, [window] * 2, [shift] * 2, heads, hidden=hidden)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x):
        x = x + self.norm1(self.attn(x))
        return x + self.norm2(self.mlp(x))


class PatchMergingV2(nn.Module):
    """torchvision's PatchMergingV2: the 2×2 neighbours side by side, the linear, then the norm."""

    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(2 * dim)

    def forward(self, x):
        return self.norm(self.reduction(_patch_merging_pad(x)))


class SwinV2Style(nn.Module):
    """Swin V2 in small: a 9×9 map (windows of 4, padded to 12×12), a shifted block, patch merging to
    5×5 (padded to 8×8 by the next window), a head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.blocks = nn.Sequential(SwinV2Block(16, 2, 4, 0), SwinV2Block(16, 2, 4, 2))
        self.merge = PatchMergingV2(16)
        self.last = SwinV2Block(32, 4, 4, 2, hidden=32)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        x = self.last(self.merge(self.blocks(x)))
        return self.head(x.mean((1, 2)))
