/**
 * Crash-safe file replacement, with the previous version kept beside the new one.
 *
 * `writeFileAtomic(path, bytes)` runs two steps:
 *   1. `writeTemp`: write the bytes to a fresh temp file in the same directory (a rename only stays atomic within
 *      one file system) and fsync it, so the data is on disk before any name points at it;
 *   2. `commit`: make the current `path` also `path.prev` (a hard link, falling back to a rename where links are
 *      unsupported), rename the temp file over `path`, and fsync the directory so both renames are durable.
 * A crash during step 1 leaves `path` untouched and a stray temp file; during step 2, `path` holds the old bytes
 * or the new ones (with a hard link, `path` never disappears; with the fallback rename, `path.prev` holds the old
 * bytes in the gap). Never neither, never a torn file.
 */
import { open, rename, link, unlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'

/** Where the previous version of `path` is kept. */
export const previousPath = (path: string): string => `${path}.prev`

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/** Flush a directory's entries (the renames inside it). Some platforms cannot open a directory for this: skip there. */
async function syncDirectory(dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
  } catch (e) {
    if (code(e) === 'EISDIR' || code(e) === 'EPERM' || code(e) === 'EACCES') return
    throw e
  }
  try {
    await handle.sync()
  } catch (e) {
    if (code(e) !== 'EINVAL' && code(e) !== 'EPERM') throw e
  } finally {
    await handle.close()
  }
}

/** Step 1: the bytes in a new, fsynced temp file beside `path`; returns the temp file's path. */
export async function writeTemp(path: string, bytes: Uint8Array): Promise<string> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx')
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } catch (e) {
    await handle.close()
    await unlink(temp).catch(() => undefined)
    throw e
  }
  await handle.close()
  return temp
}

/** Step 2: move the temp file over `path`, keeping the current `path` as `path.prev`. */
export async function commit(temp: string, path: string): Promise<void> {
  const prev = previousPath(path)
  const prevTemp = `${temp}.prev`
  try {
    // link under a temp name, then rename over the old .prev: .prev is replaced atomically too
    await link(path, prevTemp)
    await rename(prevTemp, prev)
    // rename does nothing when both names already link one file (after a crash between these steps)
    await unlink(prevTemp).catch(() => undefined)
  } catch (e) {
    await unlink(prevTemp).catch(() => undefined)
    if (code(e) === 'ENOENT') {
      // no current file: nothing to keep
    } else if (code(e) === 'EPERM' || code(e) === 'ENOTSUP' || code(e) === 'EOPNOTSUPP' || code(e) === 'EXDEV') {
      await rename(path, prev)
    } else throw e
  }
  await rename(temp, path)
  await syncDirectory(dirname(path))
}

/** Replace `path` with `bytes` so that a crash never leaves a torn file, keeping the old one as `path.prev`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = await writeTemp(path, bytes)
  try {
    await commit(temp, path)
  } catch (e) {
    await unlink(temp).catch(() => undefined)
    throw e
  }
}
