/**
 * Parameter trees: nested readonly records and arrays whose leaves are Tensors. Declare records with `type`,
 * not `interface`: an interface has no index signature, so it is not assignable to `Tree`.
 * `valueAndGrad` returns gradients with the exact type of the parameters, as `jax.grad` does.
 */
import { Tensor } from './tensor.ts'

/** Optional entries (a linear layer without bias) may be undefined: they are skipped. */
export type Tree = Tensor | readonly Tree[] | { readonly [key: string]: Tree | undefined }

/** Leaves with their dotted paths ("blocks.0.attn.wq"). */
export function entries(tree: Tree, prefix = ''): [string, Tensor][] {
  if (tree instanceof Tensor) return [[prefix, tree]]
  const join = (k: string | number) => (prefix === '' ? `${k}` : `${prefix}.${k}`)
  if (Array.isArray(tree)) return (tree as readonly Tree[]).flatMap((t, i) => entries(t, join(i)))
  const rec = tree as { readonly [key: string]: Tree }
  return Object.keys(rec).sort().flatMap((k) => (rec[k] === undefined ? [] : entries(rec[k]!, join(k))))
}

/** Leaves in a fixed order: arrays by index, records by sorted key. */
export const leaves = (tree: Tree): Tensor[] => entries(tree).map(([, t]) => t)

/** Apply f to every leaf, keeping the structure. */
export function treeMap<T extends Tree>(tree: T, f: (leaf: Tensor, path: string) => Tensor, prefix = ''): T {
  const join = (k: string | number) => (prefix === '' ? `${k}` : `${prefix}.${k}`)
  if (tree instanceof Tensor) return f(tree, prefix) as unknown as T
  if (Array.isArray(tree)) return (tree as readonly Tree[]).map((t, i) => treeMap(t, f, join(i))) as unknown as T
  const rec = tree as { readonly [key: string]: Tree }
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(rec)) if (rec[k] !== undefined) out[k] = treeMap(rec[k]!, f, join(k))
  return out as T
}

/** Combine trees of identical structure leaf by leaf. */
export function treeZip<T extends Tree>(trees: readonly T[], f: (leaves: Tensor[], path: string) => Tensor, prefix = ''): T {
  const first = trees[0]!
  const join = (k: string | number) => (prefix === '' ? `${k}` : `${prefix}.${k}`)
  if (first instanceof Tensor) return f(trees as unknown as Tensor[], prefix) as unknown as T
  if (Array.isArray(first))
    return (first as readonly Tree[]).map((_, i) =>
      treeZip(trees.map((t) => (t as readonly Tree[])[i]!), f, join(i)),
    ) as unknown as T
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(first))
    if ((first as Record<string, unknown>)[k] !== undefined) out[k] = treeZip(trees.map((t) => (t as { readonly [key: string]: Tree })[k]!), f, join(k))
  return out as T
}
