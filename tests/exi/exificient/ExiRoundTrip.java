// EXIficient as an independent oracle for the evcc decoder (tests/exi/test_empty_values.py): each stdin line is an
// EXI stream in hex; EXIficient decodes it to XML with the schema given as the first argument (strict = false,
// bit-packed, the EXIficient defaults the V2G profile uses) and encodes that XML again. Output, one line per input:
// "OK <hex of EXIficient's encoding>" or "ERR <message>". Only EXIficient's public API is used.
import com.siemens.ct.exi.core.EXIFactory;
import com.siemens.ct.exi.core.helpers.DefaultEXIFactory;
import com.siemens.ct.exi.grammars.GrammarFactory;
import com.siemens.ct.exi.main.api.sax.EXIResult;
import com.siemens.ct.exi.main.api.sax.EXISource;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.io.StringWriter;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.sax.SAXSource;
import javax.xml.transform.stream.StreamResult;
import org.xml.sax.InputSource;
import org.xml.sax.XMLReader;
import org.xml.sax.helpers.XMLReaderFactory;

public class ExiRoundTrip {
    public static void main(String[] args) throws Exception {
        EXIFactory factory = DefaultEXIFactory.newInstance();
        factory.setFragment(args.length > 1 && args[1].equals("fragment"));
        factory.setGrammars(GrammarFactory.newInstance().createGrammars(args[0]));
        Transformer toXml = TransformerFactory.newInstance().newTransformer();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            try {
                byte[] exi = parseHex(line.trim());
                StringWriter xml = new StringWriter();
                XMLReader exiReader = new EXISource(factory).getXMLReader();
                toXml.transform(new SAXSource(exiReader, new InputSource(new ByteArrayInputStream(exi))),
                        new StreamResult(xml));
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                EXIResult result = new EXIResult(factory);
                result.setOutputStream(out);
                XMLReader xmlReader = XMLReaderFactory.createXMLReader();
                xmlReader.setContentHandler(result.getHandler());
                xmlReader.parse(new InputSource(new StringReader(xml.toString())));
                System.out.println("OK " + toHex(out.toByteArray()));
            } catch (Exception e) {
                System.out.println("ERR " + String.valueOf(e).replace('\n', ' '));
            }
        }
    }

    static byte[] parseHex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static String toHex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x));
        }
        return sb.toString();
    }
}
