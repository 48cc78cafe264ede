package seg.spark;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.Dictionary;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.EncodingStats;
import org.apache.parquet.column.page.DictionaryPage;
import org.apache.parquet.column.page.DictionaryPageReadStore;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;

/**
 * What a Parquet file's footer proves without reading its rows: how many rows it has, which
 * top-level columns hold no null (every chunk's statistics say so), and which text columns hold
 * only allowed values (every page of every chunk is dictionary-encoded and every dictionary entry
 * is allowed: a value that is not in the dictionary cannot be in such a chunk). Whatever the
 * footer cannot prove is left to the checks that scan the rows.
 */
final class ParquetFooter {
  private static final Logger LOG = LogManager.getLogger(ParquetFooter.class);

  /** Rows in the file; -1 when the footer could not be read. */
  final long rows;
  /** Columns that may hold a null (every column when the footer could not be read). */
  final Set<String> mayBeNull;
  /** Columns whose every non-null value is one of their allowed values. */
  final Set<String> allowedOnly;

  private ParquetFooter(long rows, Set<String> mayBeNull, Set<String> allowedOnly) {
    this.rows = rows;
    this.mayBeNull = mayBeNull;
    this.allowedOnly = allowedOnly;
  }

  /**
   * Reads the footer of `path` (and the dictionary pages of the columns of `allowed`, which maps
   * a text column to its allowed values). `columns`: the file's top-level columns.
   */
  static ParquetFooter read(Configuration hadoop, String path, Set<String> columns, Map<String, Set<String>> allowed) {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
    try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(p, hadoop))) {
      Set<String> mayBeNull = new HashSet<>();
      Set<String> seen = new HashSet<>();
      Map<String, Boolean> provenAllowed = new HashMap<>();
      for (String c : allowed.keySet()) provenAllowed.put(c, true);
      long rows = 0;
      var schema = reader.getFooter().getFileMetaData().getSchema();
      for (BlockMetaData block : reader.getFooter().getBlocks()) {
        rows += block.getRowCount();
        DictionaryPageReadStore dictionaries = null;
        for (ColumnChunkMetaData chunk : block.getColumns()) {
          String[] path2 = chunk.getPath().toArray();
          String name = path2[0];
          seen.add(name);
          var st = chunk.getStatistics();
          boolean noNulls = st != null && !st.isEmpty() && st.isNumNullsSet() && st.getNumNulls() == 0;
          if (!noNulls) mayBeNull.add(name);
          if (path2.length != 1 || !Boolean.TRUE.equals(provenAllowed.get(name))) continue;
          boolean allNull = st != null && !st.isEmpty() && st.isNumNullsSet() && st.getNumNulls() == chunk.getValueCount();
          if (allNull) continue; // no value at all: nothing outside the set
          ColumnDescriptor descriptor = schema.getColumnDescription(path2);
          if (descriptor.getPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.BINARY || hasNonDictionaryPages(chunk)) {
            provenAllowed.put(name, false);
            continue;
          }
          if (dictionaries == null) dictionaries = reader.getDictionaryReader(block);
          DictionaryPage page = dictionaries.readDictionaryPage(descriptor);
          if (page == null) {
            provenAllowed.put(name, false);
            continue;
          }
          Dictionary dictionary = page.getEncoding().initDictionary(descriptor, page);
          Set<String> ok = allowed.get(name);
          for (int id = 0; id <= dictionary.getMaxId(); id++) {
            if (!ok.contains(dictionary.decodeToBinary(id).toStringUsingUTF8())) {
              provenAllowed.put(name, false);
              break;
            }
          }
        }
      }
      if (reader.getFooter().getBlocks().isEmpty()) return new ParquetFooter(0, mayBeNull, allowed.keySet());
      for (String c : columns) if (!seen.contains(c)) mayBeNull.add(c);
      Set<String> allowedOnly = new HashSet<>();
      for (var e : provenAllowed.entrySet()) if (e.getValue() && seen.contains(e.getKey())) allowedOnly.add(e.getKey());
      return new ParquetFooter(rows, mayBeNull, allowedOnly);
    } catch (Exception e) {
      LOG.warn("cannot read the Parquet footer of {} ({}): checking every record", path, Jobs.oneLine(e.getMessage()));
      return new ParquetFooter(-1, new HashSet<>(columns), Set.of());
    }
  }

  /**
   * True unless the chunk's metadata shows that every data page is dictionary-encoded: its page
   * encoding statistics when written, else its encoding list (the 1.0 dictionary encoding with
   * nothing but level encodings beside it), as parquet-mr's own dictionary filter decides.
   */
  @SuppressWarnings("deprecation")
  private static boolean hasNonDictionaryPages(ColumnChunkMetaData chunk) {
    EncodingStats stats = chunk.getEncodingStats();
    if (stats != null) return stats.hasNonDictionaryEncodedPages() || !stats.hasDictionaryPages();
    Set<Encoding> encodings = new HashSet<>(chunk.getEncodings());
    if (!encodings.remove(Encoding.PLAIN_DICTIONARY)) return true; // RLE_DICTIONARY alone cannot tell
    encodings.remove(Encoding.RLE); // levels only
    encodings.remove(Encoding.BIT_PACKED);
    return !encodings.isEmpty();
  }
}
