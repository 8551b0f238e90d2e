/** Writing a command's files: the folder is made as needed; a failure is one line naming the file. */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'

export async function save(path: string, bytes: Uint8Array): Promise<E.Either<string, void>> {
  try {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, bytes)
    return E.right(undefined)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    const why = err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a directory' : err.code === 'ENOTDIR' ? 'a part of the path is not a directory' : err.code === 'ENOENT' ? 'its folder cannot be made' : err.message.split('\n')[0]
    return E.left(`cannot write "${path}": ${why}`)
  }
}
